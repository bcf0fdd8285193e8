#!/usr/bin/env python3
"""nvrtc_check.py - compile every deitc CUDA kernel with NVRTC and check that none spills.

For every program `crates/kernels/cuda/*.cu` (each one `#include "common.cuh"`; the `.cuh`
files are headers) and every architecture (sm_80, sm_90), it

  1. compiles the program with NVRTC (libnvrtc.so.13, loaded with ctypes) for the virtual
     architecture compute_XX and takes the PTX, then for the real one sm_XX and takes the
     CUBIN (the path the crate uses at run time; it must compile, nothing more);
  2. assembles the PTX with `ptxas -arch=sm_XX -v` and reads, per function, "Used N
     registers" and "N bytes stack frame, N bytes spill stores, N bytes spill loads";
  3. prints a table (file, kernel, arch, registers, stack, spill stores/loads).

It exits 1 when a program does not compile (the NVRTC log is printed), when any function
spills registers, when a kernel declared `extern "C" __global__ ... void name(` in the source
is missing from ptxas's report, when ptxas reports a C++-mangled entry (a `__global__` without
`extern "C"`, which NVRTC's callers cannot find by name), or when the folder has no `.cu` file;
2 when the tools cannot be set up.

No GPU is needed. The tools come from pinned CUDA 13.0 wheels on PyPI (the release the crate
targets), fetched with `python3 -m pip download` (~130 MB the first time) and unpacked, only
the files needed (~250 MB), into $DEITC_CUDA_CACHE/nvrtc-check (default
/var/cache/deitc-cuda13/nvrtc-check); later runs reuse them and need no network:

  nvidia-cuda-nvrtc==13.0.88    nvidia/cu13/lib/libnvrtc.so.13, libnvrtc-builtins.so.13.0
  nvidia-cuda-runtime==13.0.96  nvidia/cu13/include/ (cuda_bf16.h, cuda_fp16.h, vector_types.h...)
  nvidia-cuda-nvcc==13.0.88     nvidia/cu13/bin/ptxas only

(NVRTC provides the CUDA device headers and <nv/target> itself, so the crt and cccl wheels
are not needed.) Python 3 standard library only.

  python3 crates/kernels/tools/nvrtc_check.py                 # the crate's kernels
  python3 crates/kernels/tools/nvrtc_check.py --cuda-dir DIR  # another folder of .cu files
"""

import argparse
import concurrent.futures
import ctypes
import fcntl
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

WHEELS = [
    # (pip requirement, members to unpack: a path prefix inside the wheel)
    ("nvidia-cuda-nvrtc==13.0.88", ["nvidia/cu13/lib/libnvrtc.so.13", "nvidia/cu13/lib/libnvrtc-builtins.so.13.0"]),
    ("nvidia-cuda-runtime==13.0.96", ["nvidia/cu13/include/"]),
    ("nvidia-cuda-nvcc==13.0.88", ["nvidia/cu13/bin/ptxas"]),
]
ARCHS = (80, 90)
NVRTC_VERSION = (13, 0)

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CUDA_DIR = os.path.join(os.path.dirname(HERE), "cuda")
DEFAULT_CACHE = os.environ.get("DEITC_CUDA_CACHE") or "/var/cache/deitc-cuda13"


def log(msg):
    print(f"nvrtc_check: {msg}", file=sys.stderr, flush=True)


class SetupError(Exception):
    pass


# ---- tools ------------------------------------------------------------------------------------


def tool_paths(root):
    """The files the check uses, found in the unpacked wheels (None when one is missing)."""

    def one(pattern):
        hits = sorted(glob.glob(os.path.join(root, pattern), recursive=True))
        return hits[0] if hits else None

    paths = {
        "nvrtc": one("**/lib/libnvrtc.so.13"),
        "builtins": one("**/lib/libnvrtc-builtins.so.13.*"),
        "include": one("**/include/cuda_bf16.h"),
        "ptxas": one("**/bin/ptxas"),
    }
    if paths["include"]:
        paths["include"] = os.path.dirname(paths["include"])
    return paths if all(paths.values()) else None


def ensure_tools(base):
    """Download the pinned wheels into `base`/wheels and unpack them into `base`/nvrtc-check,
    unless already there; the tool paths."""
    cache = os.path.join(base, "nvrtc-check")
    try:
        os.makedirs(cache, exist_ok=True)
    except OSError as e:
        raise SetupError(f"cannot create {cache} ({e}); run as root or set DEITC_CUDA_CACHE to a writable dir")
    root = os.path.join(cache, "unpacked")
    stamp = os.path.join(cache, ".ok")
    want = " ".join(spec for spec, _ in WHEELS)
    with open(os.path.join(cache, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two checks at once: one downloads, the other waits
        if os.path.isfile(stamp) and open(stamp).read() == want:
            paths = tool_paths(root)
            if paths:
                return paths
        wheels = os.path.join(base, "wheels")  # the same folder (and pins) as shared/cuda/setup.sh
        log(f"downloading {len(WHEELS)} CUDA 13.0 wheels into {wheels} ...")
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
               "--only-binary=:all:", "-d", wheels] + [spec for spec, _ in WHEELS]
        try:
            subprocess.run(cmd, check=True, stdout=sys.stderr)
        except (OSError, subprocess.CalledProcessError) as e:
            raise SetupError(f"pip download failed ({e}); is pip installed and PyPI reachable?")
        tmp = root + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        for spec, members in WHEELS:
            name, ver = spec.split("==")
            found = sorted(glob.glob(os.path.join(wheels, f"{name.replace('-', '_')}-{ver}-*.whl")))
            if not found:
                raise SetupError(f"no wheel for {spec} in {wheels} after the download")
            log(f"unpacking {os.path.basename(found[0])}")
            with zipfile.ZipFile(found[0]) as z:
                names = [n for n in z.namelist() if any(n.startswith(m) for m in members)]
                for m in members:
                    if not any(n.startswith(m) for n in names):
                        raise SetupError(f"{os.path.basename(found[0])} has no {m} (unexpected wheel layout)")
                z.extractall(tmp, names)
        for exe in glob.glob(os.path.join(tmp, "**/bin/*"), recursive=True):
            os.chmod(exe, 0o755)  # zip extraction drops the executable bits
        shutil.rmtree(root, ignore_errors=True)
        os.rename(tmp, root)
        paths = tool_paths(root)
        if not paths:
            raise SetupError(f"the unpacked wheels in {root} lack libnvrtc, its builtins, cuda_bf16.h or ptxas")
        with open(stamp, "w") as f:
            f.write(want)
        return paths


# ---- NVRTC ------------------------------------------------------------------------------------


class Nvrtc:
    def __init__(self, paths):
        # libnvrtc dlopens its builtins by SONAME: loading them first, globally, makes that find them.
        ctypes.CDLL(paths["builtins"], mode=ctypes.RTLD_GLOBAL)
        lib = ctypes.CDLL(paths["nvrtc"])
        c_char_pp = ctypes.POINTER(ctypes.c_char_p)
        size_p = ctypes.POINTER(ctypes.c_size_t)
        sig = {
            "nvrtcVersion": [ctypes.POINTER(ctypes.c_int)] * 2,
            "nvrtcCreateProgram": [ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p, ctypes.c_char_p,
                                   ctypes.c_int, c_char_pp, c_char_pp],
            "nvrtcCompileProgram": [ctypes.c_void_p, ctypes.c_int, c_char_pp],
            "nvrtcDestroyProgram": [ctypes.POINTER(ctypes.c_void_p)],
            "nvrtcGetProgramLogSize": [ctypes.c_void_p, size_p],
            "nvrtcGetProgramLog": [ctypes.c_void_p, ctypes.c_char_p],
            "nvrtcGetPTXSize": [ctypes.c_void_p, size_p],
            "nvrtcGetPTX": [ctypes.c_void_p, ctypes.c_char_p],
            "nvrtcGetCUBINSize": [ctypes.c_void_p, size_p],
            "nvrtcGetCUBIN": [ctypes.c_void_p, ctypes.c_char_p],
        }
        for name, args in sig.items():
            fn = getattr(lib, name)
            fn.argtypes, fn.restype = args, ctypes.c_int
        lib.nvrtcGetErrorString.argtypes, lib.nvrtcGetErrorString.restype = [ctypes.c_int], ctypes.c_char_p
        self.lib = lib
        major, minor = ctypes.c_int(), ctypes.c_int()
        self.check(lib.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor)), "nvrtcVersion")
        self.version = (major.value, minor.value)

    def check(self, rc, what):
        if rc != 0:
            raise RuntimeError(f"{what}: {self.lib.nvrtcGetErrorString(rc).decode()}")

    def compile(self, source, name, headers, options, want):
        """(ok, log, output) for `source`; `want` is "ptx" or "cubin"."""
        lib = self.lib
        prog = ctypes.c_void_p()
        hdr_src = (ctypes.c_char_p * len(headers))(*[s.encode() for s in headers.values()])
        hdr_names = (ctypes.c_char_p * len(headers))(*[n.encode() for n in headers])
        self.check(lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), name.encode(), len(headers),
                                          hdr_src, hdr_names), "nvrtcCreateProgram")
        try:
            opts = (ctypes.c_char_p * len(options))(*[o.encode() for o in options])
            rc = lib.nvrtcCompileProgram(prog, len(options), opts)
            size = ctypes.c_size_t()
            self.check(lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size)), "nvrtcGetProgramLogSize")
            buf = ctypes.create_string_buffer(size.value)
            self.check(lib.nvrtcGetProgramLog(prog, buf), "nvrtcGetProgramLog")
            text = buf.value.decode(errors="replace").strip()
            if rc != 0:
                return False, f"{lib.nvrtcGetErrorString(rc).decode()}\n{text}".strip(), None
            get_size, get = (lib.nvrtcGetPTXSize, lib.nvrtcGetPTX) if want == "ptx" else \
                (lib.nvrtcGetCUBINSize, lib.nvrtcGetCUBIN)
            self.check(get_size(prog, ctypes.byref(size)), f"nvrtcGet{want.upper()}Size")
            out = ctypes.create_string_buffer(size.value)
            self.check(get(prog, out), f"nvrtcGet{want.upper()}")
            if size.value <= 1:
                return False, f"NVRTC returned an empty {want}\n{text}".strip(), None
            return True, text, out.raw[: size.value]
        finally:
            lib.nvrtcDestroyProgram(ctypes.byref(prog))


# ---- source and ptxas report ------------------------------------------------------------------

COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
ATTRS = r"(?:\s+(?:__launch_bounds__\s*\([^()]*\)|__maxnreg__\s*\([^()]*\)|__noinline__|__forceinline__))*"
KERNEL = re.compile(r'extern\s*"C"\s+__global__' + ATTRS + r"\s+void" + ATTRS + r"\s+(\w+)\s*\(")


def declared_kernels(source):
    return KERNEL.findall(COMMENTS.sub(" ", source))


ENTRY = re.compile(r"Compiling entry function '([^']+)' for '(sm_\w+)'")
PROPS = re.compile(r"Function properties for (\S+)")
FRAME = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
USED = re.compile(r"Used (\d+) registers")


def parse_ptxas(report):
    """{function: {"entry", "regs", "stack", "stores", "loads"}} from `ptxas -v` output."""
    funcs, current = {}, None
    lines = report.splitlines()
    for i, line in enumerate(lines):
        m = ENTRY.search(line)
        if m:
            current = funcs.setdefault(m.group(1), {"entry": True})
            continue
        m = PROPS.search(line)
        if m:
            f = funcs.setdefault(m.group(1), {"entry": False})
            m2 = FRAME.search(lines[i + 1]) if i + 1 < len(lines) else None
            if m2:
                f["stack"], f["stores"], f["loads"] = map(int, m2.groups())
            continue
        m = USED.search(line)
        if m and current is not None:
            current["regs"] = int(m.group(1))
            current = None
    return funcs


# ---- the check --------------------------------------------------------------------------------


def check_one(nvrtc, ptxas, cu, arch, headers, include_dirs, tmp):
    """Compile `cu` for `arch`; (rows, errors)."""
    name = os.path.basename(cu)
    with open(cu, encoding="utf-8") as f:
        source = f.read()
    common = [f"-I{d}" for d in include_dirs] + ["--std=c++17"]
    errors = []
    ok, text, ptx = nvrtc.compile(source, name, headers, [f"--gpu-architecture=compute_{arch}"] + common, "ptx")
    if not ok:
        return [], [f"{name} sm_{arch}: NVRTC (PTX) failed:\n{text}"]
    ok2, text2, _ = nvrtc.compile(source, name, headers, [f"--gpu-architecture=sm_{arch}"] + common, "cubin")
    if not ok2:
        errors.append(f"{name} sm_{arch}: NVRTC (CUBIN) failed:\n{text2}")
    ptx_path = os.path.join(tmp, f"{name}.sm_{arch}.ptx")
    with open(ptx_path, "wb") as f:
        f.write(ptx.rstrip(b"\0"))
    run = subprocess.run([ptxas, f"-arch=sm_{arch}", "-v", ptx_path, "-o", ptx_path + ".cubin"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if run.returncode != 0:
        return [], errors + [f"{name} sm_{arch}: ptxas failed (exit {run.returncode}):\n{run.stdout.strip()}"]
    funcs = parse_ptxas(run.stdout)
    rows = []
    for fn, p in sorted(funcs.items(), key=lambda kv: (not kv[1]["entry"], kv[0])):
        kind = "kernel" if p["entry"] else "device function"
        if "stores" not in p or (p["entry"] and "regs" not in p):
            errors.append(f"{name} sm_{arch}: cannot read ptxas's report for {kind} {fn}:\n{run.stdout.strip()}")
            continue
        rows.append((name, fn if p["entry"] else f"{fn} (device fn)", f"sm_{arch}", p.get("regs"),
                     p["stack"], p["stores"], p["loads"]))
        if p["stores"] or p["loads"]:
            errors.append(f"{name} sm_{arch}: {kind} {fn} spills registers "
                          f"({p['stores']} bytes spill stores, {p['loads']} bytes spill loads)")
        if p["entry"] and fn.startswith("_Z"):
            errors.append(f"{name} sm_{arch}: kernel {fn} is C++-mangled; declare it extern \"C\" __global__")
    declared = declared_kernels(source)
    for k in declared:
        if k not in funcs:
            errors.append(f"{name} sm_{arch}: kernel {k} is declared in the source but missing from ptxas's report")
    if not declared:
        errors.append(f"{name}: no `extern \"C\" __global__ void name(` kernel found in the source")
    return rows, errors


def main():
    ap = argparse.ArgumentParser(
        description="Compile every CUDA kernel (CUDA_DIR/*.cu) with NVRTC 13.0 for sm_80 and sm_90 and "
        "check with `ptxas -v` that none spills registers. Downloads the pinned CUDA 13.0 wheels from "
        "PyPI into the cache on first use; no GPU needed.",
        epilog="Exit status: 0 all compiled without spills; 1 a compile error, a spill, a declared kernel "
        "missing from ptxas's report, a mangled kernel, or no .cu file; 2 the tools could not be set up.")
    ap.add_argument("--cuda-dir", default=DEFAULT_CUDA_DIR,
                    help="folder whose *.cu files are checked (default: %(default)s)")
    ap.add_argument("--cache", default=DEFAULT_CACHE,
                    help="cache folder: the wheels go to CACHE/wheels, the unpacked tools to "
                    "CACHE/nvrtc-check (default: $DEITC_CUDA_CACHE, else %(default)s)")
    ap.add_argument("--arch", default=",".join(map(str, ARCHS)),
                    help="comma-separated SM versions (default: %(default)s)")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1,
                    help="programs compiled at once (default: %(default)s)")
    args = ap.parse_args()
    try:
        archs = [int(a) for a in args.arch.split(",") if a.strip()]
    except ValueError:
        ap.error(f"--arch: expected numbers like 80,90, got {args.arch!r}")

    cuda_dir = os.path.abspath(args.cuda_dir)
    programs = sorted(glob.glob(os.path.join(cuda_dir, "*.cu")))
    if not programs:
        log(f"FAIL: no .cu file in {cuda_dir}; nothing checked")
        return 1

    try:
        paths = ensure_tools(os.path.abspath(args.cache))
        nvrtc = Nvrtc(paths)
    except (SetupError, OSError, RuntimeError) as e:
        log(f"error: {e}")
        return 2
    if nvrtc.version[:2] != NVRTC_VERSION:
        log(f"error: {paths['nvrtc']} is NVRTC {nvrtc.version}, expected {NVRTC_VERSION}")
        return 2
    log(f"NVRTC {nvrtc.version[0]}.{nvrtc.version[1]} ({paths['nvrtc']}), ptxas {paths['ptxas']}")
    log(f"checking {len(programs)} program(s) in {cuda_dir} for " + ", ".join(f"sm_{a}" for a in archs))

    # The folder's headers go to NVRTC by name (as the crate does), and the folder is on the
    # include path too, for headers that include one another.
    headers = {}
    for h in sorted(glob.glob(os.path.join(cuda_dir, "*.cuh")) + glob.glob(os.path.join(cuda_dir, "*.h"))):
        with open(h, encoding="utf-8") as f:
            headers[os.path.basename(h)] = f.read()
    include_dirs = [cuda_dir, paths["include"]]

    rows, errors = [], []
    with tempfile.TemporaryDirectory(prefix="nvrtc_check.") as tmp, \
            concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        jobs = [pool.submit(check_one, nvrtc, paths["ptxas"], cu, a, headers, include_dirs, tmp)
                for cu in programs for a in archs]
        for job in jobs:  # in order: the output does not depend on the threads
            try:
                r, e = job.result()
            except Exception as ex:  # a broken tool, not a broken kernel
                r, e = [], [f"internal error: {ex!r}"]
            rows += r
            errors += e

    head = ("file", "kernel", "arch", "registers", "stack", "spill stores", "spill loads")
    table = [head] + [tuple("-" if v is None else str(v) for v in r) for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    for i, r in enumerate(table):
        print("  ".join(v.ljust(w) if j < 3 else v.rjust(w) for j, (v, w) in enumerate(zip(r, widths))).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    sys.stdout.flush()
    if errors:
        for e in errors:
            log("FAIL: " + e)
        log(f"FAILED: {len(errors)} problem(s) in {len(programs)} program(s)")
        return 1
    kernels = sum(1 for r in rows if not r[1].endswith("(device fn)"))
    log(f"ok: {len(programs)} program(s), {kernels} kernel builds (kernel x arch), no spills")
    return 0


if __name__ == "__main__":
    sys.exit(main())
