#!/usr/bin/env python3
"""profile.py - what one training step asks of the CUDA device, counted on the simulated one.

    python3 crates/kernels/simcuda/profile.py RECIPE [--steps N] [--at-peak] [deitc bench flags...]

Runs `deitc bench RECIPE --device cuda` on the simulated toolchain (`check.sh` builds it
into target/simcuda first) with `$SIMCUDA_STATS` set, so the simulated driver counts what
happens inside bench's profiling range (its timed training steps), and prints the counts
per step: kernel launches (deitc's kernels apart from dfdx's, the most frequent first),
cuBLAS products and their FLOPs, host-device copies, memsets and allocations, and the
device memory's peak (every allocation not yet freed, dfdx's cache included: what the GPU's
memory would hold), over the whole run and inside the timed steps; `--at-peak` also lists
the buffers alive at the peak by size, the largest share first. The counts
are the device's work as the program issues it, the same on any GPU; times are not.
`DEITC_CUDA_COMPOSED` in the environment applies as usual.
"""

import collections
import glob
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..", ".."))
OUT = os.path.join(ROOT, "target", "simcuda")
KERNEL = re.compile(r'extern\s*"C"\s+__global__\s+void\s+(\w+)\s*\(')


def deitc_kernels():
    names = set()
    for path in glob.glob(os.path.join(ROOT, "crates", "kernels", "cuda", "*.cu")):
        with open(path) as f:
            names.update(KERNEL.findall(f.read()))
    return names


def main(args):
    if not args or args[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    binary = os.path.join(OUT, "deitc")
    if not os.access(binary, os.X_OK):
        print("profile.py: no simulated build; run crates/kernels/simcuda/check.sh first", file=sys.stderr)
        return 2
    at_peak = "--at-peak" in args
    args = [a for a in args if a != "--at-peak"]
    steps = 2
    if "--steps" in args:
        steps = int(args[args.index("--steps") + 1])
    else:
        args = args + ["--steps", str(steps)]
    with tempfile.TemporaryDirectory() as tmp:
        stats = os.path.join(tmp, "stats.tsv")
        env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(OUT, "lib"),
                   SIMCUDA_CACHE=os.path.join(OUT, "cache"), SIMCUDA_STATS=stats)
        run = subprocess.run([binary, "bench", *args, "--device", "cuda"], env=env, cwd=ROOT,
                             capture_output=True, text=True)
        if run.returncode != 0:
            sys.stderr.write(run.stdout + run.stderr)
            return run.returncode
        rows = []
        with open(stats) as f:
            for line in f:
                kind, name, count, amount = line.rstrip("\n").split("\t")
                rows.append((kind, name, int(count), int(amount)))
    ours = deitc_kernels()
    per = lambda n: n / steps
    launches = [(n, c) for k, n, c, _ in rows if k == "launch"]
    total = sum(c for _, c in launches)
    mine = sum(c for n, c in launches if n in ours)
    print(f"{' '.join(args)}: per training step ({steps} counted)")
    print(f"  launches        {per(total):8.0f}  (deitc's kernels {per(mine):.0f}, dfdx's {per(total - mine):.0f})")
    dfdx = collections.Counter({n: c for n, c in launches if n not in ours})
    for name, c in dfdx.most_common(8):
        print(f"    dfdx {name:<28} {per(c):6.0f}")
    top = collections.Counter({n: c for n, c in launches if n in ours})
    for name, c in top.most_common(8):
        print(f"    deitc {name:<27} {per(c):6.0f}")
    for k, n, c, a in sorted(r for r in rows if r[0] == "gemm"):
        print(f"  cuBLAS {n:<8} {per(c):8.0f}  products, {per(a) / 1e9:.3f} GFLOP")
    for k, n, c, a in sorted(r for r in rows if r[0] in ("copy", "memset", "alloc", "free")):
        label = f"{k} {n}".strip()
        print(f"  {label:<24} {per(c):8.1f}  ({per(a) / 1e6:.3f} MB)" if k != "free" else f"  {label:<24} {per(c):8.1f}")
    for k, n, c, a in rows:
        if k == "memory":
            print(f"  memory {n:<17} {a / 2**20:10.1f} MiB")
    if at_peak:
        live = sorted((r for r in rows if r[0] == "at peak"), key=lambda r: -r[3])
        for _, size, c, a in live[:12]:
            print(f"    {c:6d} × {int(size):>12,d} B = {a / 2**20:8.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
