// The CUDA driver API on the CPU (`libcuda.so.1` of the simulated toolchain): the entry
// points cudarc 0.9 calls, over host memory, with kernels run by the CPU simulator.
//
// - Device memory is host memory: a `CUdeviceptr` is a host address. New allocations are
//   filled with 0xff bytes (a NaN in every f32 and bf16 lane), so a kernel or product that
//   reads memory nothing wrote gives NaNs, which a comparison with the CPU catches.
// - Every stream is the one in-order queue of the calling thread: copies, memsets and
//   launches run when they are issued, so `cuStreamSynchronize` and events have nothing to
//   wait for. Launches from several threads run one at a time.
// - A module is a shared object built by `kernelc.py` (the fake NVRTC and `nvcc` write
//   "SIMCUDA-SO <path>" as its PTX); a function is an entry of its launcher table.
// - One device, ordinal 0, compute capability 9.0, no memory pools.
// - Counts: between `cuProfilerStart` and `cuProfilerStop` (the range `deitc bench` opens
//   around its timed training steps) every launch (by kernel), copy, memset, allocation and
//   cuBLAS product (`simcuda_count`) is counted; at exit the counts are appended to the
//   file `$SIMCUDA_STATS` names, one `kind<TAB>name<TAB>count<TAB>amount` line each.
// - Memory: the bytes allocated and not yet freed are tracked over the whole process (what
//   a GPU's memory would hold: dfdx's cache keeps its freed buffers allocated), and their
//   peak, over the process and inside the profiling range, is written with the counts as
//   `memory<TAB>peak<TAB>1<TAB>bytes` and `memory<TAB>peak in range<TAB>1<TAB>bytes`, and
//   what was alive at the peak, by size, as `at peak<TAB>size<TAB>count<TAB>bytes` lines.
//
// Every other entry point of the library is a stub returning CUDA_ERROR_NOT_SUPPORTED.

#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <utility>

extern "C" {

typedef int CUresult;
typedef unsigned long long CUdeviceptr;
typedef int CUdevice;

enum {
    CUDA_SUCCESS = 0,
    CUDA_ERROR_INVALID_VALUE = 1,
    CUDA_ERROR_OUT_OF_MEMORY = 2,
    CUDA_ERROR_INVALID_DEVICE = 101,
    CUDA_ERROR_INVALID_IMAGE = 200,
    CUDA_ERROR_INVALID_HANDLE = 400,
    CUDA_ERROR_NOT_FOUND = 500,
    CUDA_ERROR_LAUNCH_FAILED = 719,
};

struct Module {
    void* handle;
    int (*find)(const char*);
    void (*launch)(int, const unsigned*, const unsigned*, unsigned, void**);
    const char* (*name)(int);
};

// The profiling range's counts: (kind, name) → (count, amount).
static bool profiling = false;
static std::mutex counting;
static std::map<std::pair<std::string, std::string>, std::pair<unsigned long long, unsigned long long>>& counts() {
    static auto* c = new std::map<std::pair<std::string, std::string>, std::pair<unsigned long long, unsigned long long>>;
    return *c;
}

// Device memory in use: each live allocation's size, their sum, and its peaks.
struct Memory {
    std::map<unsigned long long, size_t> sizes;
    unsigned long long live = 0, peak = 0, peak_in_range = 0;
    std::map<size_t, unsigned long long> at_peak;  // size → live allocations of it
};
static Memory& memory() {
    static auto* m = new Memory;
    return *m;
}

static void write_counts() {
    const char* path = std::getenv("SIMCUDA_STATS");
    if (!path || !*path) return;
    FILE* f = std::fopen(path, "a");
    if (!f) return;
    for (const auto& [key, value] : counts())
        std::fprintf(f, "%s\t%s\t%llu\t%llu\n", key.first.c_str(), key.second.c_str(), value.first, value.second);
    std::fprintf(f, "memory\tpeak\t1\t%llu\n", memory().peak);
    std::fprintf(f, "memory\tpeak in range\t1\t%llu\n", memory().peak_in_range);
    for (const auto& [size, n] : memory().at_peak)
        std::fprintf(f, "at peak\t%zu\t%llu\t%llu\n", size, n, n * size);
    std::fclose(f);
}

// Records an allocation (`bytes` > 0) or the free of `ptr` (`bytes` == 0).
static void track(unsigned long long ptr, size_t bytes) {
    const std::lock_guard<std::mutex> lock(counting);
    Memory& m = memory();
    if (bytes > 0) {
        m.sizes[ptr] = bytes;
        m.live += bytes;
        if (m.live > m.peak) {
            m.peak = m.live;
            m.at_peak.clear();
            for (const auto& [p, size] : m.sizes) m.at_peak[size] += 1;
        }
        if (profiling && m.live > m.peak_in_range) m.peak_in_range = m.live;
    } else if (auto it = m.sizes.find(ptr); it != m.sizes.end()) {
        m.live -= it->second;
        m.sizes.erase(it);
    }
}

// Counts one event of `kind` (`name` within it) with `amount` (bytes, FLOPs) while the
// profiling range is open; cuBLAS's products count through it too.
void simcuda_count(const char* kind, const char* name, unsigned long long amount) {
    const std::lock_guard<std::mutex> lock(counting);
    if (!profiling) return;
    auto& c = counts()[{kind, name}];
    c.first += 1;
    c.second += amount;
}

CUresult cuProfilerStart() {
    const std::lock_guard<std::mutex> lock(counting);
    profiling = true;
    memory().peak_in_range = memory().live;
    return CUDA_SUCCESS;
}
CUresult cuProfilerStop() {
    const std::lock_guard<std::mutex> lock(counting);
    profiling = false;
    return CUDA_SUCCESS;
}

struct Function {
    Module* module;
    int index;
};

static int context_token;
static int event_token;
static int stream_token;
static std::mutex launches;

CUresult cuInit(unsigned) {
    // The counts and the memory peaks are written at exit, once.
    static const bool registered = [] { return std::atexit(write_counts) == 0; }();
    (void)registered;
    return CUDA_SUCCESS;
}

CUresult cuDriverGetVersion(int* version) {
    *version = 13000;
    return CUDA_SUCCESS;
}

CUresult cuDeviceGetCount(int* count) {
    *count = 1;
    return CUDA_SUCCESS;
}

CUresult cuDeviceGet(CUdevice* device, int ordinal) {
    if (ordinal != 0) return CUDA_ERROR_INVALID_DEVICE;
    *device = 0;
    return CUDA_SUCCESS;
}

CUresult cuDeviceGetName(char* name, int len, CUdevice) {
    if (len > 0) std::snprintf(name, size_t(len), "simcuda (CPU)");
    return CUDA_SUCCESS;
}

CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice) {
    *bytes = size_t(8) << 30;
    return CUDA_SUCCESS;
}

CUresult cuMemGetInfo_v2(size_t* free_bytes, size_t* total) {
    *free_bytes = size_t(8) << 30;
    *total = size_t(8) << 30;
    return CUDA_SUCCESS;
}

CUresult cuDeviceGetAttribute(int* value, int attribute, CUdevice) {
    switch (attribute) {
        case 1: *value = 1024; break;            // max threads per block
        case 2: case 3: *value = 1024; break;    // max block dim x, y
        case 4: *value = 64; break;              // max block dim z
        case 5: *value = 2147483647; break;      // max grid dim x
        case 6: case 7: *value = 65535; break;   // max grid dim y, z
        case 8: *value = 49152; break;           // shared memory per block
        case 10: *value = 32; break;             // warp size
        case 16: *value = 1; break;              // multiprocessors
        case 75: *value = 9; break;              // compute capability major
        case 76: *value = 0; break;              // compute capability minor
        case 115: *value = 1; break;             // memory pools: cudarc then allocates and frees
                                                 // in stream order, as on an H100
        default: *value = 0; break;
    }
    return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRetain(void** context, CUdevice) {
    *context = &context_token;
    return CUDA_SUCCESS;
}
CUresult cuDevicePrimaryCtxRelease_v2(CUdevice) { return CUDA_SUCCESS; }
CUresult cuCtxSetCurrent(void*) { return CUDA_SUCCESS; }
CUresult cuCtxGetCurrent(void** context) {
    *context = &context_token;
    return CUDA_SUCCESS;
}
CUresult cuCtxSynchronize() { return CUDA_SUCCESS; }

CUresult cuStreamCreate(void** stream, unsigned) {
    *stream = &stream_token;
    return CUDA_SUCCESS;
}
CUresult cuStreamDestroy_v2(void*) { return CUDA_SUCCESS; }
CUresult cuStreamSynchronize(void*) { return CUDA_SUCCESS; }
CUresult cuStreamWaitEvent(void*, void*, unsigned) { return CUDA_SUCCESS; }

CUresult cuEventCreate(void** event, unsigned) {
    *event = &event_token;
    return CUDA_SUCCESS;
}
CUresult cuEventRecord(void*, void*) { return CUDA_SUCCESS; }
CUresult cuEventSynchronize(void*) { return CUDA_SUCCESS; }
CUresult cuEventDestroy_v2(void*) { return CUDA_SUCCESS; }
CUresult cuEventElapsedTime(float* ms, void*, void*) {
    *ms = 0.0f;
    return CUDA_SUCCESS;
}

CUresult cuMemAlloc_v2(CUdeviceptr* ptr, size_t bytes) {
    // Rounded up and 256-byte aligned, as the device's allocations are.
    const size_t size = (bytes + 255) / 256 * 256 + 256;
    void* p = std::aligned_alloc(256, size);
    if (!p) return CUDA_ERROR_OUT_OF_MEMORY;
    std::memset(p, 0xff, size);
    *ptr = CUdeviceptr(reinterpret_cast<uintptr_t>(p));
    simcuda_count("alloc", "", bytes);
    track(*ptr, bytes);
    return CUDA_SUCCESS;
}
CUresult cuMemAllocAsync(CUdeviceptr* ptr, size_t bytes, void*) { return cuMemAlloc_v2(ptr, bytes); }
CUresult cuMemFree_v2(CUdeviceptr ptr) {
    simcuda_count("free", "", 0);
    track(ptr, 0);
    std::free(reinterpret_cast<void*>(uintptr_t(ptr)));
    return CUDA_SUCCESS;
}
CUresult cuMemFreeAsync(CUdeviceptr ptr, void*) { return cuMemFree_v2(ptr); }

static void* host(CUdeviceptr p) { return reinterpret_cast<void*>(uintptr_t(p)); }

CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t n) {
    simcuda_count("copy", "host to device", n);
    std::memcpy(host(dst), src, n);
    return CUDA_SUCCESS;
}
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t n, void*) { return cuMemcpyHtoD_v2(dst, src, n); }
CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t n) {
    simcuda_count("copy", "device to host", n);
    std::memcpy(dst, host(src), n);
    return CUDA_SUCCESS;
}
CUresult cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t n, void*) { return cuMemcpyDtoH_v2(dst, src, n); }
CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n) {
    simcuda_count("copy", "device to device", n);
    std::memmove(host(dst), host(src), n);
    return CUDA_SUCCESS;
}
CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, void*) { return cuMemcpyDtoD_v2(dst, src, n); }
CUresult cuMemsetD8_v2(CUdeviceptr dst, unsigned char value, size_t n) {
    simcuda_count("memset", "", n);
    std::memset(host(dst), value, n);
    return CUDA_SUCCESS;
}
CUresult cuMemsetD8Async(CUdeviceptr dst, unsigned char value, size_t n, void*) { return cuMemsetD8_v2(dst, value, n); }

CUresult cuModuleLoadData(void** module, const void* image) {
    static const char tag[] = "SIMCUDA-SO ";
    const char* text = static_cast<const char*>(image);
    if (std::strncmp(text, tag, sizeof(tag) - 1) != 0) {
        std::fprintf(stderr, "simcuda: a module that is not a simulated one (real PTX?)\n");
        return CUDA_ERROR_INVALID_IMAGE;
    }
    std::string path(text + sizeof(tag) - 1);
    while (!path.empty() && (path.back() == '\n' || path.back() == ' ')) path.pop_back();
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        std::fprintf(stderr, "simcuda: %s\n", dlerror());
        return CUDA_ERROR_INVALID_IMAGE;
    }
    auto* m = new Module{handle, reinterpret_cast<int (*)(const char*)>(dlsym(handle, "simcuda_find")),
                         reinterpret_cast<void (*)(int, const unsigned*, const unsigned*, unsigned, void**)>(
                             dlsym(handle, "simcuda_launch")),
                         reinterpret_cast<const char* (*)(int)>(dlsym(handle, "simcuda_name"))};
    if (!m->find || !m->launch || !m->name) {
        delete m;
        return CUDA_ERROR_INVALID_IMAGE;
    }
    *module = m;
    return CUDA_SUCCESS;
}

CUresult cuModuleUnload(void*) { return CUDA_SUCCESS; }  // kernels stay loaded

CUresult cuModuleGetFunction(void** function, void* module, const char* name) {
    auto* m = static_cast<Module*>(module);
    const int index = m->find(name);
    if (index < 0) return CUDA_ERROR_NOT_FOUND;
    *function = new Function{m, index};
    return CUDA_SUCCESS;
}

CUresult cuLaunchKernel(void* function, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                        unsigned bz, unsigned shared, void*, void** params, void** extra) {
    if (!function || extra) return CUDA_ERROR_INVALID_VALUE;
    // The device's limits: 1024 threads a block, 48 KiB of dynamic shared memory without
    // an opt-in (which nothing here asks for), a grid's y and z below 65536.
    if (bx * by * bz == 0 || bx * by * bz > 1024 || bz > 64 || gx * gy * gz == 0 || gy > 65535 || gz > 65535 ||
        shared > 49152)
        return CUDA_ERROR_INVALID_VALUE;
    auto* f = static_cast<Function*>(function);
    const unsigned grid[3] = {gx, gy, gz}, block[3] = {bx, by, bz};
    simcuda_count("launch", f->module->name(f->index), (unsigned long long)gx * gy * gz * bx * by * bz);
    const std::lock_guard<std::mutex> lock(launches);
    f->module->launch(f->index, grid, block, shared, params);
    return CUDA_SUCCESS;
}

CUresult cuGetErrorName(CUresult error, const char** text) {
    static thread_local char buf[48];
    std::snprintf(buf, sizeof buf, "CUDA_ERROR_%d", error);
    *text = buf;
    return CUDA_SUCCESS;
}
CUresult cuGetErrorString(CUresult error, const char** text) { return cuGetErrorName(error, text); }

}  // extern "C"
