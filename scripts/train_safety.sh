#!/usr/bin/env bash
# Train the two safety screens, measure them on the held-out safety sets, and ship them.
# Usage: bash scripts/train_safety.sh [STAGE...]   stages: risk reply bench ship (default: all, in that order)
# Runs go to runs/<name>; a finished run is skipped, an interrupted one continues from its checkpoint.
# About 12 minutes of training on 2 CPU cores; `bench` generates 500 replies once (about 5 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

train() { train_run screen "$@"; }  # name config [overrides...]

stages=("$@"); [ ${#stages[@]} -eq 0 ] && stages=(risk reply bench ship)
for stage in "${stages[@]}"; do
  case $stage in
    risk) train risk-screen risk-screen ;;
    reply) train reply-screen reply-screen ;;
    bench) $E bench safety --risk-screen runs/risk-screen/best --reply-screen runs/reply-screen/best ;;
    ship)
      for name in risk-screen reply-screen; do
        rm -rf "src/emocause/pretrained/$name"; mkdir -p "src/emocause/pretrained/$name"
        cp runs/$name/best/{model.json,weights.safetensors,README.md} "src/emocause/pretrained/$name/"
      done ;;
    *) echo "unknown stage $stage" >&2; exit 2 ;;
  esac
done
