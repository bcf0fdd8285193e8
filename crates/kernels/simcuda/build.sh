#!/usr/bin/env bash
# build.sh OUT KIT - builds the simulated CUDA toolchain into OUT:
#   OUT/lib/libcuda.so.1, libcublas.so.13, libcublasLt.so.13, libnvrtc.so.13
#     (driver.cpp, cublas.cpp, nvrtc.cpp over the CPU simulator; every other symbol the
#     real libraries export is one of the CUDA kit's link-only stubs, KIT/stubs/*.c, so a
#     binary linked against the kit loads with these in LD_LIBRARY_PATH);
#   OUT/bin/nvcc (for dfdx's build script).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(mkdir -p "$1" && cd "$1" && pwd)
kit=$(cd "$2" && pwd)
mkdir -p "$out/lib" "$out/bin" "$out/obj"

# $1 the kit's stub file, $2 our implementation, $3 the SONAME, $4 C++ flags.
lib() {
  local stub=$1 impl=$2 soname=$3 extra=${4:-}
  # The names we implement, dropped from the stub list.
  local ours
  ours=$(grep -oE '^(CUresult|cublasStatus_t|nvrtcResult|const char\*) +[A-Za-z0-9_]+\(' "$impl" \
    | sed -E 's/.* ([A-Za-z0-9_]+)\($/\1/' | sort -u)
  grep -vE "^STUB\(($(echo "$ours" | paste -sd'|'))\)$" "$stub" \
    | grep -vE "^(int|const char) [A-Za-z_]+\(.*\{.*\}$" > "$out/obj/$soname.stubs.c"
  gcc -c -fPIC -O1 -w "$out/obj/$soname.stubs.c" -o "$out/obj/$soname.stubs.o"
  # shellcheck disable=SC2086
  g++ -std=c++20 -shared -fPIC -O2 -pthread $extra -Wl,-soname,"$soname" \
    "$impl" "$out/obj/$soname.stubs.o" -ldl -o "$out/lib/$soname"
}
lib "$kit/stubs/libcuda.c" "$here/driver.cpp" libcuda.so.1
lib "$kit/stubs/libcublas.c" "$here/cublas.cpp" libcublas.so.13
lib "$kit/stubs/libnvrtc.c" "$here/nvrtc.cpp" libnvrtc.so.13 "-DSIMCUDA_KERNELC=\"$here/kernelc.py\""
gcc -shared -fPIC -O1 -w -Wl,-soname,libcublasLt.so.13 "$kit/stubs/libcublasLt.c" -o "$out/lib/libcublasLt.so.13"
ln -sf "$here/nvcc" "$out/bin/nvcc"
echo "simcuda: built into $out"
