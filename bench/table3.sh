#!/usr/bin/env bash
# The paper's Table 3 on Fashion-MNIST (docs/results.md), from one recipe with a sweep:
# the convnet teacher, then the micro-DeiT with no distillation, the usual soft and hard
# distillation, and hard distillation through the distillation token, over 3 seeds. Then
# `deitc report`'s figure and table, and the class / distillation / average heads of the
# distillation-token row, evaluated from the same checkpoints.
#
# A finished point is not run again: rerunning the script only redoes what changed.
# Needs `apt-get install dataset-fashion-mnist`. OUT sets the figure (default
# docs/images/table3_fashion_mnist.png).
set -euo pipefail
cd "$(dirname "$0")/.."
DEITC=${DEITC:-target/release/deitc}
OUT=${OUT:-docs/images/table3_fashion_mnist.png}
R=recipes/fashion_mnist_table3.deit
[ -x "$DEITC" ] || cargo build --release

"$DEITC" run "$R" --quiet
mkdir -p "$(dirname "$OUT")"
"$DEITC" report runs/fashion_mnist_table3.student -o "$OUT"

echo "the distillation-token row, per head (final checkpoints):"
for seed in 0 1 2; do
  point="mode=hard,distilled=true,seed=$seed"
  run=$(ls -d "runs/fashion_mnist_table3.student/mode=hard,distilled=true,alpha=0.5,tau=1.0,seed=$seed"/*/ | tail -1)
  for head in cls dist average; do
    printf 'seed %s  %-7s  ' "$seed" "$head"
    "$DEITC" eval "$R" --stage student --point "$point" \
      --set "student.distill.eval_head=$head" --checkpoint "$run/checkpoint.safetensors"
  done
done
