#!/usr/bin/env bash
# Train and benchmark the from-scratch generators (Transformer, Multi-TRS, MoEL, E-CORE and its ablations) on
# ECC and ED with the packaged recipes, writing rows to benchmarks/results/scratch-*.json and E-CORE's
# correlation figure. Finished runs are skipped and half-finished ones resumed, so it can be re-run after a stop.
# Usage: bash scripts/train_scratch.sh [RUN...]   (default: every run, in the order below)
# Runs folder: $SCRATCH_RUNS (default runs/scratch). Two invocations with different RUNs may run side by side.
set -euo pipefail
runs="${SCRATCH_RUNS:-runs/scratch}"
mkdir -p "$runs"
ALL=(transformer-ecc multitrs-ecc moel-ecc ecore-ecc transformer-ed multitrs-ed moel-ed ecore-ed ecore-hard-ed
     ecore-no-graph-ed ecore-no-cop-ed ecore-no-coloss-ed transformer-ed-3ep multitrs-ed-3ep moel-ed-3ep ecore-ed-3ep
     ecore-hard-ed-3ep correlation)

train() {  # name method config [--set ...]
  local name=$1 method=$2 config=$3
  shift 3
  if [ -f "$runs/$name/done" ]; then return; fi
  local resume=()
  if [ -d "$runs/$name/checkpoint" ]; then resume=(--resume); fi
  emocause train "$method" -o "$runs/$name" -c "$config" "${resume[@]}" "$@" > "$runs/$name.log" 2>&1
  touch "$runs/$name/done"
}

bench() {  # name dataset replies
  local name=$1 dataset=$2 replies=$3
  if [ -f "benchmarks/results/scratch-$name.json" ]; then return; fi
  emocause bench generator "$runs/$name/best" -d "$dataset" --replies "$replies" --results "scratch-$name" \
    --label "$name" >> "$runs/$name.log" 2>&1
}

run() {
  local name=$1 method=${1%%-*}
  case "$name" in
    *-ecc) train "$name" "$method" "$method-ecc"; bench "$name" ecc_examples last ;;
    ecore-hard-ed) train "$name" ecore ecore-ed --set model.strategy=hard ;;
    ecore-no-graph-ed) train "$name" ecore ecore-ed --set model.graph=false ;;
    ecore-no-cop-ed) train "$name" ecore ecore-ed --set model.correlation_perception=false ;;
    ecore-no-coloss-ed) train "$name" ecore ecore-ed --set model.correlation_weight=0 ;;
    *-ed-3ep)  # the one-epoch run, continued to three epochs over the same examples
      if [ ! -f "$runs/$name/done" ] && [ ! -d "$runs/$name" ]; then cp -r "$runs/${name%-3ep}" "$runs/$name"; rm "$runs/$name/done"; fi
      train "$name" "$method" "$runs/$name/recipe.yaml" --set train.epochs=3 ;;
    *-ed) train "$name" "$method" "$method-ed" ;;
    correlation)
      emocause bench correlation "$runs/ecore-ed-3ep/best" -o benchmarks/results/ecore-correlation.png \
        --results scratch-ecore-correlation --label ecore-ed-3ep
      return ;;
    *) echo "unknown run $name; runs: ${ALL[*]}" >&2; exit 2 ;;
  esac
  if [[ "$name" == *-ed || "$name" == *-3ep ]]; then bench "$name" empathetic_dialogues every; fi
}

for name in "${@:-${ALL[@]}}"; do run "$name"; done
