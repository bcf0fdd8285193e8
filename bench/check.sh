#!/usr/bin/env bash
# Wall time of `deitc check` per run, process start included (release build).
# Usage: bench/check.sh [RECIPE] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
recipe=${1:-recipes/deit_base_distilled_patch16_384.deit}
runs=${2:-200}
cargo build --release -q
bin=target/release/deitc
"$bin" check "$recipe" >/dev/null 2>&1 || true   # warm the page cache
start=$(date +%s%N)
for _ in $(seq "$runs"); do "$bin" check "$recipe" >/dev/null 2>&1 || true; done
end=$(date +%s%N)
echo "deitc check $recipe: $(( (end - start) / runs / 1000 )) µs per run (mean of $runs, process start included)"
