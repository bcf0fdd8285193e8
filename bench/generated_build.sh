#!/usr/bin/env bash
# Cold and warm build time of a generated graph (docs/performance.md, "Building"):
# `deitc build` of a shape nothing compiles in, into an empty cache (cargo builds deitc and
# its dependencies in release first), then of a second new shape into the same cache.
#
#   bench/generated_build.sh LABEL DEITC_BINARY DEITC_SOURCE_DIR
#   e.g. bench/generated_build.sh head target/debug/deitc "$PWD"
set -u
label=$1; bin=$2; src=$3
work=${TMPDIR:-/tmp}/deitc-generated-build/$label; rm -rf "$work"; mkdir -p "$work"
cache=$work/cache
mk() { # name depth
cat > "$work/$1.deit" <<R
model {
    patch = 4
    image = 16
    embed = 64
    depth = $2
    heads = 2
}
data {
    train = synthetic(samples = 128, classes = 10)
    val = synthetic(samples = 64, classes = 10, seed = 1)
}
augment {
    crop.kind = none
    repeated = 1
}
schedule {
    length = 2 epochs
    warmup = 1 epoch
}
train {
    batch = 32
    output = "$work/runs"
}
R
}
mk a 1; mk b 3
for r in a b; do
  t0=$(date +%s.%N)
  DEITC_CACHE=$cache DEITC_SOURCE=$src "$bin" build "$work/$r.deit" > "$work/$r.log" 2>&1
  rc=$?
  t1=$(date +%s.%N)
  echo "$label $r rc=$rc $(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") s"
done
