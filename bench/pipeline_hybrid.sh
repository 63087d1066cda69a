#!/usr/bin/env bash
# The pipeline on ntrex128 EN->DE (1,997 pairs) with the default eflomal aligner and with --aligner hybrid, one
# after the other: wall time, peak RSS, German rows, projection rejects and mean projection confidence per run.
#   bench/pipeline_hybrid.sh [OUT_ROOT]        (default /work/out/hyb; needs ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="${1:-/work/out/hyb}"
DATA="$(cd .. && pwd)/shared/data"
mkdir -p "$ROOT/ntrex"
ln -sfn "$DATA/ntrex128/newstest2019-src.eng.txt" "$ROOT/ntrex/ntrex.en"
ln -sfn "$DATA/ntrex128/newstest2019-ref.deu.txt" "$ROOT/ntrex/ntrex.de"
for aligner in eflomal hybrid; do
  rm -rf "${ROOT:?}/$aligner"
  /usr/bin/time -f "$aligner: wall %e s, peak RSS %M KB" python -m pipelines.distant_supervision \
    --input "$ROOT/ntrex/ntrex" --input-format moses --src-lang en --tgt-lang de \
    --kb "$DATA/xfactr-kb" --kb-extra-aliases "$DATA/xfactr-aliases-extra" \
    --aligner "$aligner" --output "$ROOT/$aligner" > "$ROOT/$aligner.log" 2>&1 || { tail "$ROOT/$aligner.log"; exit 1; }
  tail -n 1 "$ROOT/$aligner.log"
  python - "$ROOT/$aligner" <<'PY'
import json
import sys

import pyarrow.dataset as ds

out = sys.argv[1]
manifest = json.load(open(f"{out}/manifest.json", encoding="utf-8"))
rows = {}
for entry in manifest["rows"]:
    rows[entry["lang"]] = rows.get(entry["lang"], 0) + entry["count"]
rejects = {e["reason"]: e["count"] for e in manifest["rejects"] if e["stage"] == "project"}
table = ds.dataset(f"{out}/{manifest['dataset_root']}", partitioning="hive").to_table(
    columns=["label_source", "projection_confidence", "aligner"], filter=ds.field("label_source") == "projected")
confidence = table.column("projection_confidence").to_pylist()
print(f"  rows {rows}; projection rejects {sum(rejects.values())} {rejects}; aligner "
      f"{set(table.column('aligner').to_pylist())}; mean projection confidence {sum(confidence) / len(confidence):.3f}")
PY
done
