# Shared by the training scripts: source it from the repository root.
E=.venv/bin/emocause

train_run() { # method name config [overrides...]: a finished run is skipped, an interrupted one resumed
  local method=$1 name=$2 config=$3; shift 3
  [ -f "runs/$name/done" ] && return
  local sets=(); for o in "$@"; do sets+=(--set "$o"); done
  local resume=(); [ -d "runs/$name/checkpoint" ] && resume=(--resume)
  $E train "$method" -c "$config" -o "runs/$name" "${sets[@]}" "${resume[@]}" && touch "runs/$name/done"
}
