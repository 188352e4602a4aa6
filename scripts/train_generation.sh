#!/usr/bin/env bash
# Train the responders (CAER on ECC and its Table 9 ablations, ECG and the plain fine-tune on ED), score
# CAER on ED with ECE causes, score them and the zero-shot LM into benchmarks/results/, and ship the
# default CAER adapter.
# Usage: bash scripts/train_generation.sh [STAGE...]
#   stages: caer ed ablations bench ship   (default: all, in that order)
# Runs go to runs/<name>; a finished run is skipped, an interrupted one continues from its checkpoint.
# CPU budget: 600 training examples per run, one epoch (configs); `bench` scores a seeded sample of
# 200 reference replies (perplexity) and generates 60 of them. Run on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

train() { train_run responder "$@"; }  # name config [overrides...]

bench() { # results-name model dataset replies causes label
  [ -f "benchmarks/results/$1.json" ] && return
  $E bench responder "$2" -d "$3" --replies "$4" --causes "$5" --label "$6" --results "$1" \
    --n-perplexity 200 --n-generate 60
}

stages=("$@"); [ ${#stages[@]} -eq 0 ] && stages=(caer ed ablations bench ship)
for stage in "${stages[@]}"; do case $stage in
  caer) train caer-ecc caer-ecc ;;
  ed)
    train ecg-ed ecg-ed
    train plain-ed ecg-ed model.cause_bias=false
    train caer-ed caer-ed ;;
  ablations)
    train caer-ecc-no-cause caer-ecc model.prompt.cause=false
    train caer-ecc-no-emotion-cause caer-ecc model.prompt.cause=false model.prompt.emotion=false
    train caer-ecc-no-emotion caer-ecc model.prompt.emotion=false ;;
  bench)
    bench responder-caer-ecc runs/caer-ecc/best ecc_examples last data "CAER (SmolLM2-135M + LoRA, ECC)"
    bench responder-caer-reccon runs/caer-ecc/best reccon every data "CAER (SmolLM2-135M + LoRA, ECC)"
    bench responder-zero-shot-ecc zero-shot ecc_examples last data "SmolLM2-135M-Instruct zero-shot, CAER prompt"
    bench responder-zero-shot-reccon zero-shot reccon every data "SmolLM2-135M-Instruct zero-shot, CAER prompt"
    bench responder-ecg-ed runs/ecg-ed/best empathetic_dialogues every ece "ECG (SmolLM2-135M + LoRA, ED, ECE causes)"
    bench responder-plain-ed runs/plain-ed/best empathetic_dialogues every ece "plain fine-tune (SmolLM2-135M + LoRA, ED)"
    bench responder-caer-ed runs/caer-ed/best empathetic_dialogues every ece "CAER (SmolLM2-135M + LoRA, ED, ECE causes)"
    bench responder-caer-ecc-on-ed runs/caer-ecc/best empathetic_dialogues every ece "CAER (SmolLM2-135M + LoRA, ECC)"
    bench responder-zero-shot-ed zero-shot empathetic_dialogues every ece "SmolLM2-135M-Instruct zero-shot, CAER prompt"
    bench responder-caer-ecc-no-cause runs/caer-ecc-no-cause/best ecc_examples last data "CAER w/o C"
    bench responder-caer-ecc-no-emotion-cause runs/caer-ecc-no-emotion-cause/best ecc_examples last data "CAER w/o EC"
    bench responder-caer-ecc-no-emotion runs/caer-ecc-no-emotion/best ecc_examples last data "CAER w/o E"
    $E bench report ;;
  ship)
    rm -rf src/emocause/pretrained/caer
    cp -r runs/caer-ecc/best src/emocause/pretrained/caer ;;
  *) echo "unknown stage $stage" >&2; exit 2 ;;
esac; done
