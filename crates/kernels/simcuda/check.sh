#!/usr/bin/env bash
# check.sh - runs deitc's whole CUDA path on the CPU, with no GPU: the simulated toolchain
# (this folder) stands in for the NVIDIA driver, cuBLAS and NVRTC, and every kernel — deitc's
# and dfdx's — runs in the CPU simulator. It builds the libraries and a `--features cuda`
# deitc (its own target dir, dfdx's PTX replaced by simulated modules by the fake `nvcc`),
# then runs `deitc bench --compare-cpu`, which trains on `--device cuda` beside the CPU from
# the same weights and fails on a mismatch, for the recipes and precisions below, and with
# each fused op alone (`DEITC_CUDA_COMPOSED`), so a wrong op shows by name.
#
#   bash crates/kernels/simcuda/check.sh            # everything
#   SIMCUDA_QUICK=1 bash crates/kernels/simcuda/check.sh   # digits_vit in fp32 and bf16 only
#
# Needs the shared CUDA kit (DEITC_CUDA_KIT, default ../shared/cuda: headers and link-only
# stubs for the build), g++ and python3. The build shares `target/` (after `cargo test`,
# only dfdx, cudarc, the back end and the binary are built: about 4 minutes on 2 cores);
# `CUDA_COMPUTE_CAP=80` keeps dfdx's simulated modules apart from the kit's real PTX (its
# build script runs again whenever the value changes). The binary is copied to
# target/simcuda/deitc.
set -euo pipefail
cd "$(dirname "$0")/../../.."
kit=${DEITC_CUDA_KIT:-../shared/cuda}
out=target/simcuda
bash crates/kernels/simcuda/build.sh "$out" "$kit"
# Compiled kernels are cached by their source; when the simulator's headers or compiler
# change, drop the cache and make dfdx's build script compile its kernels again.
stamp=$(cat crates/kernels/sim/cuda_sim.h crates/kernels/simcuda/include/* crates/kernels/simcuda/kernelc.py \
  | sha256sum | cut -c1-16)
if [ "$(cat "$out/stamp" 2>/dev/null)" != "$stamp" ]; then
  rm -rf "$out/cache"
  touch vendor/dfdx/build.rs
  echo "$stamp" > "$out/stamp"
fi
bash "$kit/setup.sh" --quiet
(
  # shellcheck disable=SC1091
  source "${DEITC_CUDA_CACHE:-/var/cache/deitc-cuda13}/env.sh"
  export PATH="$PWD/$out/bin:$PATH" CUDA_COMPUTE_CAP=80
  cargo build --quiet --features cuda --bin deitc
  # A new file, not written over: a simulated run may still be executing the old one.
  cp --remove-destination target/debug/deitc "$out/deitc"
)
export LD_LIBRARY_PATH="$PWD/$out/lib" SIMCUDA_CACHE="$PWD/$out/cache"
bin="$out/deitc"

failed=0
check() {
  echo "== $*"
  if ! "$@"; then
    failed=$((failed + 1))
  fi
}
bench() { "$bin" bench "$1" --device cuda --compare-cpu --batch "${BATCH:-4}" --steps 1 "${@:2}"; }

check bench recipes/digits_vit.deit
check bench recipes/digits_vit.deit --set train.precision=bf16
if [ -z "${SIMCUDA_QUICK:-}" ]; then
  check bench recipes/digits_vit.deit --set train.precision=tf32
  check bench recipes/digits_vit.deit --set model.dropout=0.1 --set model.drop_path=0.1
  check bench recipes/digits_deit_distilled.deit
  check bench recipes/digits_convnet.deit
  ops="layer_norm linear gelu softmax attention sublayer optimizer loss ema dropout mlp attention_core"
  for op in ${ops% attention_core} attention+attention_core; do
    others=$(echo $ops | tr ' ' '\n' | grep -vxF -f <(echo "$op" | tr '+' '\n') | paste -sd, -)
    check env DEITC_CUDA_COMPOSED="$others" "$bin" bench recipes/digits_vit.deit --device cuda \
      --compare-cpu --batch "${BATCH:-4}" --steps 1
  done
  check env DEITC_CUDA_COMPOSED=all "$bin" bench recipes/digits_vit.deit --device cuda --compare-cpu \
    --batch "${BATCH:-4}" --steps 1
fi
if [ "$failed" -gt 0 ]; then
  echo "simcuda: $failed check(s) failed" >&2
  exit 1
fi
echo "simcuda: every check passed"
