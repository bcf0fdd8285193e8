#!/usr/bin/env bash
# deitc vs PyTorch+timm on the same CPU cores, same shapes and batches.
# Usage: bench/cpu_compare.sh [DEITC_BINARY] [CORES]   (needs python3 with torch and timm)
# Pins both to CORES (default "0,1": two cores) and 2 threads.
set -u
cd "$(dirname "$0")/.."
bin=${1:-target/release/deitc}
cores=${2:-0,1}
export RAYON_NUM_THREADS=2 OMP_NUM_THREADS=2 MKL_NUM_THREADS=2
run() { taskset -c "$cores" "$@"; }
echo "== machine"; lscpu | grep -E "Model name|^CPU\(s\)" ; python3 -c "import torch, timm; print('torch', torch.__version__, 'timm', timm.__version__)"
echo "== digits_vit (batch 32)"
run "$bin" bench recipes/digits_vit.deit --steps 20 2>/dev/null
run python3 bench/torch_reference.py --image 8 --patch 2 --channels 1 --embed 64 --depth 4 --heads 2 --classes 10 --batch 32 --threads 2 --steps 20
echo "== DeiT-Ti 32/4 (batch 64)"
run "$bin" bench recipes/deit_tiny_patch16_224.deit --device cpu --set model.image=32 --set model.patch=4 --set data.classes=10 --batch 64 --steps 5 2>/dev/null
run python3 bench/torch_reference.py --image 32 --patch 4 --embed 192 --depth 12 --heads 3 --classes 10 --batch 64 --threads 2 --steps 5
echo "== DeiT-Ti 224/16 (batch 8)"
run "$bin" bench recipes/deit_tiny_patch16_224.deit --device cpu --batch 8 --steps 5 2>/dev/null
run python3 bench/torch_reference.py --image 224 --patch 16 --embed 192 --depth 12 --heads 3 --classes 1000 --batch 8 --threads 2 --steps 5
echo "== DeiT-S 224/16 (batch 8)"
run "$bin" bench recipes/deit_small_patch16_224.deit --device cpu --batch 8 --steps 5 2>/dev/null
run python3 bench/torch_reference.py --image 224 --patch 16 --embed 384 --depth 12 --heads 6 --classes 1000 --batch 8 --threads 2 --steps 5
