#!/usr/bin/env python3
"""kernelc.py - compile a CUDA C source for the CPU: the simulated toolchain's compiler.

    kernelc.py SOURCE.cu OUTPUT.so [-I DIR]... [-D NAME[=VALUE]]...

The source is compiled as C++20 under the CPU simulator's headers (`crates/kernels/sim/
cuda_sim.h`, force-included, and `simcuda/include/`, whose `cuda_fp16.h` stands in for the
toolkit's), with a launcher appended: every `extern "C" __global__` kernel the source
defines (found in its preprocessed text, so kernels made by macros count) gets an entry in
a table that `simcuda_find` searches by name and `simcuda_launch` runs, unpacking the
`void**` parameters by the kernel's own signature, as `cuLaunchKernel` passes them.

The fake NVRTC (`nvrtc.cpp`) and the fake `nvcc` call this; both cache its output by the
source's hash. Exit status: 0, or g++'s on a compile error (its messages on stderr).
"""

import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.realpath(__file__))
SIM = os.path.join(os.path.dirname(HERE), "sim")
INCLUDE = os.path.join(HERE, "include")
KERNEL = re.compile(r'extern\s*"C"\s+__global__\s+void\s+(\w+)\s*\(')

LAUNCHER = r'''
#include <cstring>
#include <utility>

namespace {
template <class... A, size_t... I>
void simcuda_call(void (*kernel)(A...), void** params, std::index_sequence<I...>) {
    kernel(*static_cast<std::remove_cv_t<A>*>(params[I])...);
}
template <class... A>
void simcuda_run(void (*kernel)(A...), const unsigned* g, const unsigned* b, unsigned shared, void** params) {
    sim::launch(dim3(g[0], g[1], g[2]), dim3(b[0], b[1], b[2]), shared,
                [&] { simcuda_call(kernel, params, std::index_sequence_for<A...>{}); });
}
struct SimcudaEntry {
    const char* name;
    void (*run)(const unsigned*, const unsigned*, unsigned, void**);
};
#define SIMCUDA_KERNEL(k) SimcudaEntry{#k, [](const unsigned* g, const unsigned* b, unsigned s, void** p) { simcuda_run(k, g, b, s, p); }}
const SimcudaEntry SIMCUDA_KERNELS[] = {
%s
};
}  // namespace

extern "C" int simcuda_find(const char* name) {
    for (int i = 0; i < int(sizeof(SIMCUDA_KERNELS) / sizeof(SIMCUDA_KERNELS[0])); ++i)
        if (std::strcmp(SIMCUDA_KERNELS[i].name, name) == 0) return i;
    return -1;
}

extern "C" const char* simcuda_name(int index) { return SIMCUDA_KERNELS[index].name; }

extern "C" void simcuda_launch(int index, const unsigned* grid, const unsigned* block, unsigned shared,
                               void** params) {
    SIMCUDA_KERNELS[index].run(grid, block, shared, params);
}
'''


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    source, output = os.path.abspath(argv[1]), os.path.abspath(argv[2])
    flags = ["-std=c++20", "-pthread", "-include", "cuda_sim.h", "-I", INCLUDE, "-I", SIM,
             "-I", os.path.dirname(source)]
    rest = argv[3:]
    i = 0
    while i < len(rest):
        a = rest[i]
        if a in ("-I", "-D") and i + 1 < len(rest):
            flags += [a, rest[i + 1]]
            i += 2
            continue
        if a.startswith("-I") or a.startswith("-D"):
            flags.append(a)
        i += 1
    # The kernels' names, from the preprocessed text with `__global__` kept as a token.
    scan = subprocess.run(["g++", "-E", "-P", "-x", "c++", "-DSIMCUDA_SCAN", *flags, source],
                          capture_output=True, text=True)
    if scan.returncode != 0:
        sys.stderr.write(scan.stderr)
        return scan.returncode
    names = sorted(set(KERNEL.findall(scan.stdout)))
    table = ",\n".join(f"    SIMCUDA_KERNEL({n})" for n in names) or '    SimcudaEntry{"", nullptr}'
    with tempfile.TemporaryDirectory() as tmp:
        wrapper = os.path.join(tmp, "kernels.cpp")
        with open(wrapper, "w") as f:
            f.write(f'#include "{source}"\n')
            f.write(LAUNCHER % table)
        partial = output + f".{os.getpid()}.tmp"
        built = subprocess.run(["g++", *flags, "-O1", "-g0", "-shared", "-fPIC", "-w", wrapper,
                                "-o", partial], capture_output=True, text=True)
        if built.returncode != 0:
            sys.stderr.write(built.stderr)
            return built.returncode
        os.replace(partial, output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
