#!/usr/bin/env bash
# The paper's Table 3 on a small scale (docs/results.md): val top-1 on the bundled digits
# over 3 seeds for the convnet teacher, no distillation, usual soft and hard distillation
# (no distillation token: the class token takes both losses), and hard distillation through
# the distillation token. Each seed runs the whole pipeline (teacher and student) with that
# seed. Runs land under $OUT (default runs-results/); a finished stage is not run again.
#
# MIX=1 trains every student with Mixup 0.8 / CutMix 1.0 (DeiT's defaults) — the second
# table of docs/results.md — and leaves the teacher as it is (its row is then skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
DEITC=${DEITC:-target/release/deitc}
OUT=${OUT:-runs-results}
SEEDS=${SEEDS:-"0 1 2"}
MIX=${MIX:-0}
ROWS="teacher none soft hard hard_token"
mix=() smix=()
if [ "$MIX" = 1 ]; then
  OUT=${OUT%/}-mix
  ROWS="none soft hard hard_token"
  mix=(--set augment.mix.mixup=0.8)
  smix=(--set student.augment.mix.mixup=0.8)
fi
P=recipes/digits_distilled.deit

top1() { # the final val top-1 of the latest finished run under $1
  local s
  s=$(ls -d "$1"/*/summary.json | tail -1)
  python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['final_top1'])" "$s"
}

declare -A rows=(
  [teacher]="--stage teacher"
  [none]=""
  [soft]="--set student.model.distilled=false --set student.distill.mode=soft --set student.distill.alpha=0.1 --set student.distill.tau=3"
  [hard]="--set student.model.distilled=false"
  [hard_token]=""
)
for seed in $SEEDS; do
  for row in $ROWS; do
    out="$OUT/$row/$seed"
    if [ "$row" = none ]; then
      $DEITC run recipes/digits_vit.deit --quiet --set train.seed=$seed --set "train.output=\"$out\"" "${mix[@]}" >/dev/null
      echo "$row $seed $(top1 "$out/digits_vit")"
    else
      # shellcheck disable=SC2086
      $DEITC run $P --quiet --set train.seed=$seed --set "train.output=\"$out\"" ${rows[$row]} "${smix[@]}" >/dev/null
      stage=student; [ "$row" = teacher ] && stage=teacher
      echo "$row $seed $(top1 "$out/digits_distilled.$stage")"
    fi
  done
done
