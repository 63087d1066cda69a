"""Which KGE model embeds the KB facts: filtered link prediction on held-out xfactr-kb facts.

A seeded random 2,000 facts are held out; each model trains on the rest with the same budget and is
scored by filtered MRR / Hits@k in both directions (rex.retrieval.kge.link_prediction).

    python -m bench.rex_retrieval_kge --kb ../shared/data/xfactr-kb --models transe distmult complex --epochs 8
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from rex.retrieval.build import encode_facts
from rex.retrieval.kge import KGE_MODELS, KGEConfig, link_prediction, train_kge
from schemas.kb import load_kb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kb", required=True)
    parser.add_argument("--models", nargs="+", choices=KGE_MODELS, default=list(KGE_MODELS))
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--test", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    kb = load_kb(args.kb, langs=[])
    facts, entities, relations = encode_facts(kb.facts)
    perm = np.random.default_rng(args.seed).permutation(len(facts))
    test, train = facts[perm[: args.test]], facts[perm[args.test :]]
    for name in args.models:
        config = KGEConfig(model=name, dim=args.dim, epochs=args.epochs, lr=args.lr, seed=args.seed)
        start = time.perf_counter()
        model = train_kge(train, len(entities), len(relations), config)
        seconds = time.perf_counter() - start
        scores = link_prediction(model, test, facts)
        print(json.dumps({"model": name, "dim": args.dim, "epochs": args.epochs, "train_s": round(seconds, 1),
                          **{k: round(v, 4) if isinstance(v, float) else v for k, v in scores.items()}}), flush=True)


if __name__ == "__main__":
    main()
