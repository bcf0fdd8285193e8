// NVRTC on the CPU (`libnvrtc.so.13` of the simulated toolchain): a program's CUDA C is
// compiled for the CPU by `kernelc.py` into a shared object, and its "PTX" is the line
// `SIMCUDA-SO <path>`, which the simulated driver's `cuModuleLoadData` loads. Objects are
// cached by the source's hash in `$SIMCUDA_CACHE` (default: `simcuda-cache` in the temp
// folder), so a program compiles once per machine. Include paths are passed on after the
// simulator's own headers (which stand in for the toolkit's); other options are ignored.

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#ifndef SIMCUDA_KERNELC
#define SIMCUDA_KERNELC "kernelc.py"
#endif

extern "C" {

typedef int nvrtcResult;
enum { SUCCESS = 0, ERROR_INVALID_INPUT = 3, ERROR_INVALID_PROGRAM = 4, ERROR_COMPILATION = 6 };

struct Program {
    std::string source;
    std::string ptx;
    std::string log;
};

static std::string env_or(const char* name, const std::string& fallback) {
    const char* v = std::getenv(name);
    return v && *v ? std::string(v) : fallback;
}

static std::string read_file(const std::string& path) {
    std::ifstream f(path);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

nvrtcResult nvrtcVersion(int* major, int* minor) {
    *major = 13;
    *minor = 0;
    return SUCCESS;
}

const char* nvrtcGetErrorString(nvrtcResult r) {
    switch (r) {
        case SUCCESS: return "NVRTC_SUCCESS";
        case ERROR_COMPILATION: return "NVRTC_ERROR_COMPILATION";
        default: return "NVRTC_ERROR";
    }
}

nvrtcResult nvrtcCreateProgram(void** prog, const char* src, const char*, int headers, const char* const*,
                               const char* const*) {
    if (!prog || !src || headers != 0) return ERROR_INVALID_INPUT;
    *prog = new Program{src, "", ""};
    return SUCCESS;
}

nvrtcResult nvrtcDestroyProgram(void** prog) {
    if (!prog) return ERROR_INVALID_PROGRAM;
    delete static_cast<Program*>(*prog);
    *prog = nullptr;
    return SUCCESS;
}

nvrtcResult nvrtcCompileProgram(void* handle, int count, const char* const* options) {
    auto* p = static_cast<Program*>(handle);
    if (!p) return ERROR_INVALID_PROGRAM;
    std::string includes;
    for (int i = 0; i < count; ++i) {
        const std::string o = options[i];
        const std::string flag = "--include-path=";
        if (o.rfind(flag, 0) == 0) includes += " -I '" + o.substr(flag.size()) + "'";
    }
    // FNV-1a of the source and the include paths names its object.
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : p->source + includes) h = (h ^ c) * 1099511628211ull;
    char name[32];
    std::snprintf(name, sizeof name, "%016llx", (unsigned long long)h);
    const std::string dir = env_or("SIMCUDA_CACHE", env_or("TMPDIR", "/tmp") + "/simcuda-cache");
    mkdir(dir.c_str(), 0755);
    const std::string base = dir + "/" + name, so = base + ".so", cu = base + ".cu", log = base + ".log";
    struct stat st;
    if (stat(so.c_str(), &st) != 0) {
        const std::string partial = cu + "." + std::to_string(getpid());
        std::ofstream(partial) << p->source;
        std::rename(partial.c_str(), cu.c_str());
        const std::string kernelc = env_or("SIMCUDA_KERNELC", SIMCUDA_KERNELC);
        const std::string cmd = "python3 '" + kernelc + "' '" + cu + "' '" + so + "' -DDEITC_SIM" + includes + " 2> '" + log + "'";
        const int status = std::system(cmd.c_str());
        if (status != 0) {
            p->log = "simcuda: kernelc failed (" + std::to_string(status) + "):\n" + read_file(log);
            return ERROR_COMPILATION;
        }
    }
    p->ptx = "SIMCUDA-SO " + so + "\n";
    return SUCCESS;
}

nvrtcResult nvrtcGetPTXSize(void* handle, size_t* size) {
    *size = static_cast<Program*>(handle)->ptx.size() + 1;
    return SUCCESS;
}

nvrtcResult nvrtcGetPTX(void* handle, char* out) {
    const std::string& ptx = static_cast<Program*>(handle)->ptx;
    std::memcpy(out, ptx.c_str(), ptx.size() + 1);
    return SUCCESS;
}

nvrtcResult nvrtcGetProgramLogSize(void* handle, size_t* size) {
    *size = static_cast<Program*>(handle)->log.size() + 1;
    return SUCCESS;
}

nvrtcResult nvrtcGetProgramLog(void* handle, char* out) {
    const std::string& log = static_cast<Program*>(handle)->log;
    std::memcpy(out, log.c_str(), log.size() + 1);
    return SUCCESS;
}

}  // extern "C"
