#!/usr/bin/env bash
# The data pipeline at 224 px on one core: deitc beside timm 0.3.2/PIL, measured the same way.
#
#   bash bench/loader.sh [DIR] [N]
#
# Writes N ImageNet-sized JPEGs (default 256) into DIR (default /tmp/deitc-loader-bench) with
# bench/make_images.py, then times on one core
#   * deitc: `deitc bench recipes/deit_tiny_patch16_224.deit --data-only` on that folder
#     with RAYON_NUM_THREADS=1, preloaded (decode + fit at load time, then the official train
#     transforms: RandomResizedCrop, flip, RandAugment rand-m9-mstd0.5-inc1, normalise,
#     random erasing, and mixup/cutmix per batch of 64) and streamed (data.preload = never:
#     each image read and decoded inside the batch, as a DataLoader worker does);
#   * timm: bench/loader_timm.py (PIL decode, then timm's create_transform with the same
#     settings and batch collation; mixup runs on the GPU in the official code, so it is
#     not timed there), one torch thread.
# Needs python3 with Pillow and numpy (and torch + timm 0.3.2 for the timm side; skipped
# when they are missing). Numbers go to docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-/tmp/deitc-loader-bench}
N=${2:-256}
PY=${PYTHON:-python3}
[ -d "$DIR/train" ] || "$PY" bench/make_images.py "$DIR" "$N"
cargo build --release --quiet
for preload in always never; do
    echo "== deitc, data.preload = $preload"
    RAYON_NUM_THREADS=1 ./target/release/deitc bench recipes/deit_tiny_patch16_224.deit \
        --data-only --steps 8 \
        --set "data.train=image_folder(\"$DIR/train\")" --set "data.val=image_folder(\"$DIR/val\")" \
        --set data.classes=4 --set model.classes=4 --set train.batch=64 --set augment.repeated=1 \
        --set data.preload=$preload
done
echo "== timm 0.3.2 / PIL"
if "$PY" -c "import torch, timm" 2>/dev/null; then
    "$PY" -W ignore bench/loader_timm.py "$DIR" 3
else
    echo "timm side skipped: no torch/timm for $PY"
fi
