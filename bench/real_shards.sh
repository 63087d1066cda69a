#!/usr/bin/env bash
# Rebuild the real-data shards of the rex quality benchmark (bench/results/rex.md, run 3 = run 4): 33 shard sets,
# plus 15 for the later XQuAD languages and the unused wmt-news directions (XQuAD en-{ar,el,hi,ro,ru,th,tr,vi}; WMT {cs,de}-en, WMT24 en-{es,hi}): 48.
#
#   bench/real_shards.sh [OUT_ROOT]          # default /work/out; run from anywhere, venv active
#   JOBS=2 bench/real_shards.sh /work/out    # two pipeline runs at a time (default 1)
#
# Writes under OUT_ROOT:
#   ntrex-links/ntrex.{en,de,zh,fr,es}       symlinks to the ntrex128 files (Moses PREFIX)
#   xquad-sentpairs/en-<lang>.jsonl          XQuAD paragraphs sentence-aligned (python -m alignment.sentence), 11 languages
#   wmt24-nocanary/                          WMT24 files without their first line (the contamination canary)
#   shards-real                              ntrex128 EN->DE,ZH,FR,ES (one run, one manifest)
#   shards-xquad/en-{de,es,zh,ar,el,hi,ro,ru,th,tr,vi}
#   shards-wmt/en-{de,zh,ru,ja,cs}           WMT22 EN->X (en-cs: ref.B, WMT22 has no A)
#   shards-wmt21/en-{de,zh,ru,ja,cs} shards-wmt23/en-* shards-wmt24/en-*   EN->X; shards-wmt24/en-{es,hi} too
#   shards-wmt21/{zh,ja,ru,cs,de}-en shards-wmt22/{zh,ja,ru,cs,de}-en shards-wmt23/{zh,ja,ru,de}-en   X->EN
#   (X->EN data; for cs and de, which have no KB aliases, the pipeline's source is the English side: see runs())
#   (wmt22 cs-en has references B and C only: B is used, as for en-cs; WMT23 has no cs-en)
# A run whose OUT/manifest.json exists is skipped, so the script resumes after an interruption; a run writes to
# OUT.partial and is renamed to OUT when it finished (shard paths in the manifest are relative).
# Data: XDS_DATA (default: ../shared/data next to the repository). Pipeline defaults otherwise (eflomal, priors,
# no_relation_rate 0.2, pair-hash splits 0.8/0.1/0.1); eflomal is not seeded, so counts differ slightly per build.
set -euo pipefail

ROOT=${1:-/work/out}
JOBS=${JOBS:-1}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA=${XDS_DATA:-$(cd "$REPO/../shared/data" && pwd)}
W=$DATA/wmt-news
cd "$REPO"
mkdir -p "$ROOT"
ROOT=$(cd "$ROOT" && pwd)
LOG=$ROOT/real_shards.logs
mkdir -p "$LOG"

# ntrex128: a Moses PREFIX of symlinks
mkdir -p "$ROOT/ntrex-links"
for pair in en:eng de:deu zh:zho-CN fr:fra es:spa; do
    lang=${pair%%:*}; code=${pair#*:}
    if [ "$lang" = en ]; then f=newstest2019-src.eng.txt; else f=newstest2019-ref.$code.txt; fi
    ln -sfn "$DATA/ntrex128/$f" "$ROOT/ntrex-links/ntrex.$lang"
done

# WMT24: drop the canary line (line 1 of every file)
mkdir -p "$ROOT/wmt24-nocanary"
for f in "$W"/wmt24/wmttest2024.src.en "$W"/wmt24/wmttest2024.en-*.refA.*; do
    dst=$ROOT/wmt24-nocanary/$(basename "$f")
    if [ ! -s "$dst" ]; then
        head -n 1 "$f" | grep -q CANARY || { echo "no canary on line 1 of $f" >&2; exit 1; }
        tail -n +2 "$f" > "$dst.tmp" && mv "$dst.tmp" "$dst"
    fi
done

# XQuAD: paragraphs -> sentence pairs (the documented default: length cost + number/name anchors, no embeddings)
mkdir -p "$ROOT/xquad-sentpairs"
XQUAD_LANGS="de es zh ar el hi ro ru th tr vi"  # the first three are the run-3 sets; the rest came later
for p in $XQUAD_LANGS; do
    dst=$ROOT/xquad-sentpairs/en-$p.jsonl
    if [ ! -s "$dst" ]; then
        echo "[$(date -u +%T)] sentence-align xquad en-$p"
        python -m alignment.sentence --format xquad --src "$DATA/xquad/xquad.en.json" --tgt "$DATA/xquad/xquad.$p.json" \
            --src-lang en --tgt-lang "$p" --output "$dst.tmp" --rejects "$ROOT/xquad-sentpairs/en-$p.rejects.jsonl" \
            2> "$LOG/xquad-sentpairs-en-$p.log"
        mv "$dst.tmp" "$dst"
    fi
done

KB=(--kb "$DATA/xfactr-kb" --kb-extra-aliases "$DATA/xfactr-aliases-extra")

# one pipeline run: OUT then the pipeline arguments (without --output)
run() {
    local out=$1; shift
    if [ -f "$out/manifest.json" ]; then echo "skip $out (manifest exists)"; return 0; fi
    local name=${out#"$ROOT"/}; name=${name//\//_}
    rm -rf "$out.partial"
    echo "[$(date -u +%T)] start $out"
    local start=$SECONDS
    if ! python -m pipelines.distant_supervision "$@" --output "$out.partial" > "$LOG/$name.log" 2>&1; then
        echo "FAILED $out (log $LOG/$name.log)" >&2; return 1
    fi
    rm -rf "$out"; mv "$out.partial" "$out"
    echo "[$(date -u +%T)] done $out ($((SECONDS - start)) s)"
}

# every run as one line of NUL-free, tab-separated arguments
line() { printf '%s\t' "$@" "${KB[@]}"; echo; }
moses() {  # OUT SRC_FILE TGT_FILE SRC_LANG TGT_LANG
    line "$1" --input "$2,$3" --input-format moses --src-lang "$4" --tgt-lang "$5"
}
runs() {
    line "$ROOT/shards-real" --input "$ROOT/ntrex-links/ntrex" --input-format moses --src-lang en --tgt-lang de,zh,fr,es
    for p in $XQUAD_LANGS; do
        line "$ROOT/shards-xquad/en-$p" --input "$ROOT/xquad-sentpairs/en-$p.jsonl" --input-format jsonl \
            --src-lang en --tgt-lang "$p"
    done
    for p in de zh ru ja cs; do
        ref=A; [ "$p" = cs ] && ref=B
        moses "$ROOT/shards-wmt/en-$p" "$W/wmt22/generaltest2022.en-$p.src.en" \
            "$W/wmt22/generaltest2022.en-$p.ref.$ref.$p" en "$p"
        moses "$ROOT/shards-wmt21/en-$p" "$W/wmt21/newstest2021.en-$p.src.en" "$W/wmt21/newstest2021.en-$p.ref.A.$p" en "$p"
        moses "$ROOT/shards-wmt23/en-$p" "$W/wmt23/generaltest2023.en-$p.src.en" \
            "$W/wmt23/generaltest2023.en-$p.ref.refA.$p" en "$p"
        moses "$ROOT/shards-wmt24/en-$p" "$ROOT/wmt24-nocanary/wmttest2024.src.en" \
            "$ROOT/wmt24-nocanary/wmttest2024.en-$p.refA.$p" en "$p"
    done
    for p in zh ja ru; do
        moses "$ROOT/shards-wmt21/$p-en" "$W/wmt21/newstest2021.$p-en.src.$p" "$W/wmt21/newstest2021.$p-en.ref.A.en" "$p" en
        moses "$ROOT/shards-wmt22/$p-en" "$W/wmt22/generaltest2022.$p-en.src.$p" \
            "$W/wmt22/generaltest2022.$p-en.ref.A.en" "$p" en
        moses "$ROOT/shards-wmt23/$p-en" "$W/wmt23/generaltest2023.$p-en.src.$p" \
            "$W/wmt23/generaltest2023.$p-en.ref.refA.en" "$p" en
    done
    # the pairs/directions of wmt-news not used above (listed after the run-3 sets, so those run first)
    for p in es hi; do
        moses "$ROOT/shards-wmt24/en-$p" "$ROOT/wmt24-nocanary/wmttest2024.src.en" \
            "$ROOT/wmt24-nocanary/wmttest2024.en-$p.refA.$p" en "$p"
    done
    # cs/de -> en: the KB has no cs or de aliases, so with cs/de as the pipeline's source nothing is linked there and
    # the set holds English rows only (wmt21/de-en: 184 en rows, 0 de); the English reference goes first instead
    # (--src-lang en), entities are linked on it and projected to the original cs/de text (wmt21/de-en: 189 en +
    # 171 de rows). The name keeps the data's direction (original cs/de, translated into en).
    for p in cs de; do
        moses "$ROOT/shards-wmt21/$p-en" "$W/wmt21/newstest2021.$p-en.ref.A.en" "$W/wmt21/newstest2021.$p-en.src.$p" en "$p"
        ref=A; [ "$p" = cs ] && ref=B
        moses "$ROOT/shards-wmt22/$p-en" "$W/wmt22/generaltest2022.$p-en.ref.$ref.en" \
            "$W/wmt22/generaltest2022.$p-en.src.$p" en "$p"
    done
    moses "$ROOT/shards-wmt23/de-en" "$W/wmt23/generaltest2023.de-en.ref.refA.en" "$W/wmt23/generaltest2023.de-en.src.de" en de
}

# one run per line; JOBS runs at a time; a failed run does not stop the others, the script then exits 1
run_line() { local -a a; IFS=$'\t' read -r -a a <<< "$1"; run "${a[@]}"; }
export ROOT LOG
export -f run run_line
runs | sed 's/\t$//' > "$LOG/runs.tsv"
if xargs -P "$JOBS" -d '\n' -I{} bash -c 'run_line "$1"' _ {} < "$LOG/runs.tsv"; then
    echo "[$(date -u +%T)] all runs done"
else
    echo "some runs failed (see $LOG)" >&2; exit 1
fi
