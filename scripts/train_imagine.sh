#!/usr/bin/env bash
# IMAGINE end to end: the communication-mechanism classifier (trained on EPITOME, benchmarked, shipped as
# src/emocause/pretrained/mechanisms), IMAGINE's cached features for ED (causes, knowledge, mechanisms), IMAGINE
# and its Table-2 ablations, the Transformer on the same budget, and the knowledge-source comparison.
# Finished steps are skipped and half-finished runs resumed, so it can be re-run after a stop.
# Usage: bash scripts/train_imagine.sh [STEP...]   (default: every step, in the order below)
# Runs folder: $IMAGINE_RUNS (default runs/imagine). Two invocations with different runs may go side by side
# once `features` is done.
set -euo pipefail
runs="${IMAGINE_RUNS:-runs/imagine}"
mkdir -p "$runs"
ALL=(mechanisms features imagine-ed imagine-no-cause-ed imagine-no-cm-ed imagine-no-know-ed imagine-no-div-ed
     transformer-ed-10k imagine-ed-3ep imagine-no-know-ed-3ep knowledge)
# The from-scratch family's longer budget (docs/scratch.md): 20,000 examples, 3 epochs.
LONGER=(--set train.max_train_examples=20000 --set train.epochs=3)

train() {  # name method config [--set ...]
  local name=$1 method=$2 config=$3
  shift 3
  if [ -f "$runs/$name/done" ]; then return; fi
  local resume=()
  if [ -d "$runs/$name/checkpoint" ]; then resume=(--resume); fi
  emocause train "$method" -o "$runs/$name" -c "$config" "${resume[@]}" "$@" > "$runs/$name.log" 2>&1
  touch "$runs/$name/done"
}

bench() {  # name
  local name=$1
  if [ -f "benchmarks/results/scratch-$name.json" ]; then return; fi
  emocause bench generator "$runs/$name/best" -d empathetic_dialogues --results "scratch-$name" --label "$name" \
    >> "$runs/$name.log" 2>&1
}

run() {
  local name=$1
  case "$name" in
    mechanisms)
      train mechanisms mechanisms mechanisms-epitome
      rm -rf src/emocause/pretrained/mechanisms
      cp -r "$runs/mechanisms/best" src/emocause/pretrained/mechanisms
      emocause bench mechanisms mechanisms --results mechanisms-epitome --label mechanisms ;;
    features)
      for split in train valid test; do emocause knowledge --precompute "$split"; done ;;
    imagine-ed) train "$name" imagine imagine-ed; bench "$name" ;;
    imagine-no-cause-ed) train "$name" imagine imagine-ed --set model.use_causes=false; bench "$name" ;;
    imagine-no-cm-ed) train "$name" imagine imagine-ed --set model.use_mechanisms=false; bench "$name" ;;
    imagine-no-know-ed) train "$name" imagine imagine-ed --set model.use_knowledge=false; bench "$name" ;;
    imagine-no-div-ed) train "$name" imagine imagine-ed --set model.diversity_weight=0; bench "$name" ;;
    transformer-ed-10k) train "$name" transformer transformer-ed --set train.max_train_examples=10000; bench "$name" ;;
    imagine-ed-3ep) train "$name" imagine imagine-ed "${LONGER[@]}"; bench "$name" ;;
    imagine-no-know-ed-3ep) train "$name" imagine imagine-ed "${LONGER[@]}" --set model.use_knowledge=false; bench "$name" ;;
    knowledge)
      emocause bench knowledge --source retrieval --source generation -n 40 --results knowledge-sources ;;
    *) echo "unknown step $name; steps: ${ALL[*]}" >&2; exit 2 ;;
  esac
}

for name in "${@:-${ALL[@]}}"; do run "$name"; done
