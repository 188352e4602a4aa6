#!/usr/bin/env bash
# Train the understanding models and their ablation rows, then score them on test into benchmarks/results/.
# Usage: bash scripts/train_understanding.sh [STAGE...]   (stages: empathy ece cee emotion ship; default all)
# `ship` copies the selected runs into src/emocause/pretrained/, the defaults `emocause analyze` loads.
# Runs go to runs/<name>; an interrupted stage continues from its checkpoint when run again.
set -euo pipefail
cd "$(dirname "$0")/.."
E=.venv/bin/emocause
train() { # name method config [overrides...]
  local name=$1 method=$2 config=$3; shift 3
  local sets=(); for o in "$@"; do sets+=(--set "$o"); done
  [ -f "runs/$name/done" ] && return
  local resume=(); [ -d "runs/$name/checkpoint" ] && resume=(--resume)
  $E train "$method" -c "$config" -o "runs/$name" "${sets[@]}" "${resume[@]}" && touch "runs/$name/done"
}
bench() { $E bench model "runs/$1/best" -d "$2" --results "$1" --label "$3"; }
stages=("${@:-empathy ece cee emotion ship}"); stages=(${stages[@]})
for stage in "${stages[@]}"; do case $stage in
  empathy)
    train empathy-ecc-focal empathy_cause empathy-cause-ecc
    train empathy-ecc-weighted empathy_cause empathy-cause-ecc loss=weighted
    train empathy-ecc-simple empathy_cause empathy-cause-ecc attention=false
    train empathy-reccon-focal empathy_cause empathy-cause-ecc dataset=reccon_empathy_cause
    bench empathy-ecc-focal ecc_empathy_cause "co-attention + focal loss (MiniLM frozen)"
    bench empathy-ecc-weighted ecc_empathy_cause "co-attention + class-weighted CE (MiniLM frozen)"
    bench empathy-ecc-simple ecc_empathy_cause "no attention + focal loss (MiniLM frozen)"
    bench empathy-reccon-focal reccon_empathy_cause "co-attention + focal loss (MiniLM frozen)" ;;
  ece)
    # CPU budget: 1,500 of the 4,399 labelled RECCON targets, one epoch, 128 tokens (see docs/understanding.md).
    cpu=(train.epochs=1 train.max_train_examples=1500 encoder.max_length=128)
    train ece-semi ece ece-reccon "${cpu[@]}"
    train ece-supervised ece ece-reccon mode=supervised "${cpu[@]}"
    train ece-attention ece ece-reccon mode=attention "${cpu[@]}"
    train ece-no-aux ece ece-reccon aux_weight=0 "${cpu[@]}"
    bench ece-semi reccon "ECE semi-supervised (MiniLM + LoRA)"
    bench ece-supervised reccon "ECE supervised only"
    bench ece-attention reccon "[CLS] attention only"
    bench ece-no-aux reccon "ECE semi-supervised, no auxiliary loss" ;;
  cee)
    train cee-reccon cee cee-reccon train.epochs=1 train.max_train_examples=2500 encoder.max_length=160
    bench cee-reccon reccon "joint utterance scorer (MiniLM + LoRA)" ;;
  emotion)
    train emotion-ed emotion emotion-ed train.epochs=1
    bench emotion-ed empathetic_dialogues "MiniLM-L6 + LoRA, 32 classes" ;;
  ship)
    for pair in emotion-ed:emotion-ed ece-semi:ece cee-reccon:cee empathy-ecc-focal:empathy-cause; do
      rm -rf "src/emocause/pretrained/${pair#*:}"
      cp -r "runs/${pair%%:*}/best" "src/emocause/pretrained/${pair#*:}"
    done ;;
  *) echo "unknown stage $stage" >&2; exit 2 ;;
esac; done
