#!/usr/bin/env bash
# bench/gpu.sh — one prepared run on a GPU machine (see docs/performance.md, "CUDA").
#
# Build on any Linux x86-64 machine (no GPU needed) with the CUDA kit, then copy the
# project with its .gpu/ folder to the GPU machine and run this from the project root:
#   CARGO_TARGET_DIR=target/cuda GPU_BINS=deitc <kit>/build.sh --bin deitc && strip .gpu/deitc
#   bench/gpu.sh            # on the GPU machine: needs python3 with torch (cu130) and timm
#
# In the order 1, 3, 6, 7, 2, 4, 5 (the most telling first), each part time-boxed so a slow
# part cannot starve the rest:
#   1. GPU vs CPU on the same weights and batch (logits, one step's loss, logits after it;
#      bf16: logits within 2e-2, the loss after 20 steps within 1%)
#   2. `deitc run` end to end on CUDA: the bundled default, 30 epochs
#   3. DeiT-Ti/S/B 224 training throughput: deitc fp32, tf32 and bf16 (and fp32 with every
#      fused op composed, the "before") beside timm fp32 and bf16 (AMP)
#   4. the CPU side by side: deitc vs timm pinned to 2 cores, 2 threads
#   5. (with nsys installed) a kernel-time summary of one DeiT-S bench
#   6. the loader on all cores (`bench --data-only`, streamed JPEGs, the full DeiT train
#      transform) against part 3's training img/s
#   7. one DeiT-Ti⚗ training step with its RegNetY-16GF teacher on the GPU (random weights
#      written by timm, so only the time means anything)
# Everything printed also goes to $OUT/gpu.log (or /tmp/gpu.log). PARTS="1 2" runs a subset;
# BIN and RUN override the binary and its launcher: `RUN=env BIN=target/release/deitc
# PARTS=4 bash bench/gpu.sh` runs the CPU part on any machine.
set -u
cd "$(dirname "$0")/.."
BIN=${BIN:-.gpu/deitc}
RUN=${RUN:-.gpu/run.sh}
LOG=${OUT:-/tmp}/gpu.log
exec > >(tee -a "$LOG") 2>&1
part() { echo; echo "== $* ($(date +%T))"; }
# The whole script stays under DEADLINE seconds (default 540, for a 600 s device call):
# each command's limit is cut to what is left, and a command with under 10 s left is
# skipped and said so.
DEADLINE=${DEADLINE:-540}
START=$SECONDS
# t SECONDS cmd…: run with a time limit (at most what is left) and say how it ended.
t() {
  local s=$1 left=$((DEADLINE - (SECONDS - START))); shift
  if [ "$left" -lt 10 ]; then echo "[skipped, ${left}s left: $*]"; return; fi
  [ "$s" -le "$left" ] || s=$left
  timeout "$s" "$@"; local rc=$?; [ $rc = 0 ] || echo "[exit $rc]"
}
# gpu_mem cmd…: run and print the peak GPU memory nvidia-smi saw meanwhile, and the GPU's
# mean and median utilisation over the samples where memory was in use (a low one means the
# host — launches, syncs, copies — is the bottleneck, not the kernels).
gpu_mem() {
  local f; f=$(mktemp)
  nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv,noheader,nounits -lms 200 >"$f" 2>/dev/null &
  local pid=$!
  "$@"
  kill $pid 2>/dev/null; wait $pid 2>/dev/null
  echo "  peak GPU memory (nvidia-smi, whole card) $(cut -d, -f1 "$f" | sort -n | tail -1) MiB"
  local busy; busy=$(awk -F', *' '$1 > 1000 { print $2 }' "$f" | sort -n)
  if [ -n "$busy" ]; then
    local n; n=$(echo "$busy" | wc -l)
    echo "  GPU utilisation while busy: mean $(echo "$busy" | awk '{ s += $1 } END { printf "%.0f", s / NR }')%," \
      "median $(echo "$busy" | sed -n "$(( (n + 1) / 2 ))p")% ($n samples)"
  fi
  rm -f "$f"
}
PARTS=${PARTS:-1 2 3 4 5 6 7}
want() { [[ " $PARTS " == *" $1 "* ]]; }
TIMM="python3 bench/torch_reference.py --device cuda --classes 1000 --image 224 --patch 16"

part "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
lscpu | grep -E "Model name|^CPU\(s\)"
python3 -c "import torch, timm; print('torch', torch.__version__, 'timm', timm.__version__)"
t 120 $RUN true

if want 1; then
part "1. GPU vs CPU, same weights and batch"
t 150 $RUN $BIN bench recipes/digits_vit.deit --device cuda --compare-cpu --steps 5
t 60 $RUN $BIN bench recipes/digits_vit.deit --device cuda --compare-cpu --steps 5 --set train.precision=bf16
t 60 $RUN $BIN bench recipes/digits_vit.deit --device cuda --compare-cpu --steps 5 --set model.dropout=0.1
# Each fused op alone (every other op composed, DEITC_CUDA_COMPOSED): which one breaks, if any.
# attention_core runs inside the attention op only, so it is checked with it ("a+b": both).
OPS="layer_norm linear gelu softmax attention sublayer optimizer loss ema dropout mlp attention_core"
for op in ${OPS% attention_core} attention+attention_core; do
  others=$(echo $OPS | tr ' ' '\n' | grep -vxF -f <(echo "$op" | tr '+' '\n') | paste -sd, -)
  echo "-- only $op fused"
  t 40 env DEITC_CUDA_COMPOSED="$others" $RUN $BIN bench recipes/digits_vit.deit --device cuda --compare-cpu --steps 1
done
t 60 $RUN $BIN bench recipes/digits_convnet.deit --device cuda --compare-cpu --steps 5
t 60 $RUN $BIN bench recipes/digits_deit_distilled.deit --device cuda --compare-cpu --steps 5
t 120 $RUN $BIN bench recipes/deit_tiny_patch16_224.deit --device cuda --compare-cpu --batch 8 --steps 3
t 120 $RUN $BIN bench recipes/deit_tiny_patch16_224.deit --device cuda --compare-cpu --batch 8 --steps 3 --set train.precision=bf16
fi

if want 3; then
part "3. training throughput at 224 (deitc fp32, tf32, bf16, composed | timm fp32, bf16)"
for shape in "tiny 192 3 128" "small 384 6 128" "base 768 12 64"; do
  set -- $shape
  echo "-- DeiT-$1 224/16, batch $4"
  for p in fp32 tf32 bf16; do
    echo "deitc $p"
    gpu_mem t 90 $RUN $BIN bench recipes/deit_$1_patch16_224.deit --device cuda --batch "$4" --steps 5 --set train.precision=$p
  done
  # "Before": every fused op back to dfdx's compositions (docs/performance.md, CUDA).
  echo "deitc fp32, DEITC_CUDA_COMPOSED=all"
  gpu_mem t 90 env DEITC_CUDA_COMPOSED=all $RUN $BIN bench recipes/deit_$1_patch16_224.deit --device cuda --batch "$4" --steps 5
  gpu_mem t 60 $TIMM --embed "$2" --heads "$3" --depth 12 --batch "$4" --steps 10
  gpu_mem t 60 $TIMM --embed "$2" --heads "$3" --depth 12 --batch "$4" --steps 10 --amp bf16
done

fi

if want 6; then
part "6. the loader on all cores: streamed JPEG decode + the full DeiT train transform (beside part 3's img/s)"
D=/tmp/deitc-gpu-loader
[ -d $D/train ] || t 60 python3 bench/make_images.py $D 512
t 90 $RUN $BIN bench recipes/deit_small_patch16_224.deit --data-only --steps 8 \
  --set "data.train=image_folder(\"$D/train\")" --set "data.val=image_folder(\"$D/val\")" \
  --set data.classes=4 --set model.classes=4 --set train.batch=128 --set augment.repeated=1 \
  --set data.preload=never
fi

if want 7; then
part "7. one DeiT-Ti⚗ step with its RegNetY-16GF teacher (random weights from timm: timing only)"
REG=/tmp/deitc-regnety_160-random.pth
[ -f $REG ] || t 120 python3 -c "import torch, timm; torch.save(timm.create_model('regnety_160').state_dict(), '$REG')"
gpu_mem t 150 $RUN $BIN bench recipes/deit_tiny_distilled_patch16_224.deit --device cuda --batch 128 --steps 3 \
  --set "distill.teacher.checkpoint=\"$REG\""
fi

if want 2; then
part "2. deitc run on CUDA: the bundled default (convnet teacher, distilled student)"
t 240 $RUN $BIN run recipes/digits_deit_distilled.deit --device cuda --quiet \
  --set 'train.output="target/gpu-runs"'
fi

if want 4; then
part "4. CPU side by side: 2 pinned cores, 2 threads"
export RAYON_NUM_THREADS=2 OMP_NUM_THREADS=2 MKL_NUM_THREADS=2
PIN="taskset -c 0,1"
echo "-- digits_vit, batch 32"
t 60 $RUN $PIN $BIN bench recipes/digits_vit.deit --device cpu --steps 20
t 60 $PIN python3 bench/torch_reference.py --image 8 --patch 2 --channels 1 --embed 64 --depth 4 --heads 2 --classes 10 --batch 32 --threads 2 --steps 20
echo "-- DeiT-Ti 32/4, batch 64"
t 90 $RUN $PIN $BIN bench recipes/deit_tiny_patch16_224.deit --device cpu --set model.image=32 --set model.patch=4 --set data.classes=10 --batch 64 --steps 5
t 90 $PIN python3 bench/torch_reference.py --image 32 --patch 4 --embed 192 --depth 12 --heads 3 --classes 10 --batch 64 --threads 2 --steps 5
echo "-- DeiT-Ti 224/16, batch 8"
t 90 $RUN $PIN $BIN bench recipes/deit_tiny_patch16_224.deit --device cpu --batch 8 --steps 3
t 90 $PIN python3 bench/torch_reference.py --image 224 --patch 16 --embed 192 --depth 12 --heads 3 --classes 1000 --batch 8 --threads 2 --steps 3
fi

if want 5 && command -v nsys >/dev/null; then
part "5. where the GPU time goes: nsys kernel summary of a DeiT-S step (batch 128)"
# Only bench's timed training steps (its cuProfilerStart/Stop range), not start-up or eval.
t 240 nsys profile -o /tmp/deit_s --force-overwrite true --stats=false \
  --capture-range=cudaProfilerApi --capture-range-end=stop \
  $RUN $BIN bench recipes/deit_small_patch16_224.deit --device cuda --batch 128 --steps 3 >/dev/null
t 120 nsys stats --report cuda_gpu_kern_sum,cuda_api_sum --format csv \
  /tmp/deit_s.nsys-rep 2>/dev/null | head -60
fi
part "done"
