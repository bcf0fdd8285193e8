// CUDA on the CPU: enough of CUDA C++ for deitc's kernels to compile unchanged as C++20 and
// run on the CPU, so their numerics are tested in `cargo test` on machines with no GPU (and,
// through `simcuda/`, whole CUDA training steps).
//
// - A launch runs the grid's blocks one after another; a block's threads are fibers
//   (`ucontext`) on the launching thread, each run until it returns or reaches a barrier,
//   then the next. Launches from several host threads run one at a time.
//   `threadIdx` is set for the fiber running, `blockDim`/`gridDim` are the launch's.
// - `__syncthreads()` is a barrier over the block's threads: a thread that reaches it yields
//   until all have.
// - Warp shuffles go through an exchange array between two barriers of the warp, so every
//   thread of a warp must reach them (deitc's kernels reduce with whole warps). A thread
//   that returns drops out of its block's and warp's barriers, as on the device.
// - `__shared__` arrays are function-level statics: blocks never overlap, so one copy
//   serves every block in turn. Dynamic shared memory is `DEITC_DYNAMIC_SHARED`.
// - `__nv_bfloat16` rounds to nearest even exactly as the hardware does.
#pragma once

#include <sys/mman.h>
#include <ucontext.h>

#include <atomic>
#include <cassert>
#include <cmath>
#include <math.h>
#include <cstdint>
#include <cstring>
#include <algorithm>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

namespace sim {

// A barrier among fibers: each arrival waits (yielding to the block's other threads) until
// `expected` threads have arrived; a thread that exits drops out of it.
struct Barrier {
    unsigned expected;
    unsigned arrived = 0;
    unsigned generation = 0;
    explicit Barrier(unsigned n) : expected(n) {}
};

// One CUDA thread: a fiber with its own stack, and its indices.
struct Fiber {
    ucontext_t context;
    dim3 idx;
    bool done = false;
};

struct Block {
    Barrier barrier;              // __syncthreads
    std::vector<Barrier> warps;   // shuffles, one per warp
    std::vector<uint64_t> exchange;  // one slot per thread, for shuffles
    std::vector<unsigned char> dynamic_shared;
    std::vector<Fiber> fibers;
    ucontext_t scheduler;
    unsigned running = 0;  // the fiber on the CPU
    Block(unsigned threads, size_t shared)
        : barrier(threads), exchange(threads), dynamic_shared(shared), fibers(threads) {
        for (unsigned w = 0; w < threads; w += 32) warps.emplace_back(std::min(32u, threads - w));
    }
};

inline thread_local dim3 thread_idx;
inline thread_local dim3 block_idx;
inline thread_local Block* block = nullptr;
inline dim3 block_dim;
inline dim3 grid_dim;

inline unsigned linear_thread() {
    return thread_idx.x + block_dim.x * (thread_idx.y + block_dim.y * thread_idx.z);
}

// The running thread gives the CPU back to its block's scheduler.
inline void yield() {
    Block* b = block;
    swapcontext(&b->fibers[b->running].context, &b->scheduler);
}

inline void arrive_and_wait(Barrier& bar) {
    const unsigned generation = bar.generation;
    if (++bar.arrived == bar.expected) {
        bar.arrived = 0;
        ++bar.generation;
        return;
    }
    while (bar.generation == generation) yield();
}

inline void arrive_and_drop(Barrier& bar) {
    --bar.expected;
    if (bar.arrived > 0 && bar.arrived == bar.expected) {
        bar.arrived = 0;
        ++bar.generation;
    }
}

// Every fiber's stack: one region per thread of a block (at most 1024), mapped once per
// process and reused by every block of every launch (launches run one at a time).
inline constexpr size_t STACK_BYTES = size_t(256) << 10;
inline unsigned char* stacks() {
    static unsigned char* region = [] {
        void* p = mmap(nullptr, STACK_BYTES * 1024, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) std::abort();
        return static_cast<unsigned char*>(p);
    }();
    return region;
}

inline const std::function<void()>* current_kernel = nullptr;

inline void fiber_main() {
    Block* b = block;
    const unsigned t = b->running;
    (*current_kernel)();
    // An exited thread no longer takes part in its block's or warp's barriers (as on the
    // device).
    arrive_and_drop(b->barrier);
    arrive_and_drop(b->warps[t / 32]);
    b->fibers[t].done = true;
    // Returning resumes the scheduler (`uc_link`).
}

// Runs `kernel` over `grid` × `block_` threads with `shared` bytes of dynamic shared memory.
// Launches are serialised (as on one stream): `blockDim`, `gridDim` and the `__shared__`
// statics belong to the one launch running. A block's threads are fibers on the calling
// thread, run in turn from one barrier to the next.
inline void launch(dim3 grid, dim3 block_, size_t shared, const std::function<void()>& kernel) {
    static std::mutex one_at_a_time;
    const std::lock_guard<std::mutex> lock(one_at_a_time);
    grid_dim = grid;
    block_dim = block_;
    current_kernel = &kernel;
    const unsigned n = block_.x * block_.y * block_.z;
    if (n == 0 || n > 1024) std::abort();
    unsigned char* stack = stacks();
    for (unsigned bz = 0; bz < grid.z; ++bz)
        for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx) {
                Block b(n, shared);
                block = &b;
                block_idx = dim3(bx, by, bz);
                for (unsigned t = 0; t < n; ++t) {
                    Fiber& f = b.fibers[t];
                    f.idx = dim3(t % block_.x, (t / block_.x) % block_.y, t / (block_.x * block_.y));
                    getcontext(&f.context);
                    f.context.uc_stack.ss_sp = stack + STACK_BYTES * t;
                    f.context.uc_stack.ss_size = STACK_BYTES;
                    f.context.uc_link = &b.scheduler;
                    makecontext(&f.context, fiber_main, 0);
                }
                // Round robin until every thread has returned.
                for (unsigned left = n; left > 0;) {
                    for (unsigned t = 0; t < n; ++t) {
                        Fiber& f = b.fibers[t];
                        if (f.done) continue;
                        b.running = t;
                        thread_idx = f.idx;
                        swapcontext(&b.scheduler, &f.context);
                        if (f.done) --left;
                    }
                }
                block = nullptr;
            }
    current_kernel = nullptr;
}

template <class T>
T shuffle(T v, unsigned source_lane, int width) {
    static_assert(sizeof(T) <= sizeof(uint64_t));
    const unsigned me = linear_thread();
    uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    Barrier& warp = block->warps[me / 32];
    block->exchange[me] = bits;
    arrive_and_wait(warp);
    const unsigned base = me & ~unsigned(width - 1);
    const uint64_t got = block->exchange[base + (source_lane & unsigned(width - 1))];
    arrive_and_wait(warp);
    T out;
    std::memcpy(&out, &got, sizeof(T));
    return out;
}

}  // namespace sim

#define threadIdx (sim::thread_idx)
#define blockIdx (sim::block_idx)
#define blockDim (sim::block_dim)
#define gridDim (sim::grid_dim)
#define warpSize 32

// `simcuda`'s compiler keeps `__global__` while it scans a source for its kernels.
#ifndef SIMCUDA_SCAN
#define __global__
#endif
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __shared__ static
#define DEITC_DYNAMIC_SHARED(type, name) type* name = reinterpret_cast<type*>(sim::block->dynamic_shared.data())

inline void __syncthreads() { sim::arrive_and_wait(sim::block->barrier); }

template <class T>
T __shfl_xor_sync(unsigned, T v, int lane_mask, int width = warpSize) {
    return sim::shuffle(v, (sim::linear_thread() % unsigned(width)) ^ unsigned(lane_mask), width);
}

template <class T>
T __shfl_down_sync(unsigned, T v, unsigned delta, int width = warpSize) {
    const unsigned lane = sim::linear_thread() % unsigned(width);
    const unsigned src = lane + delta < unsigned(width) ? lane + delta : lane;
    return sim::shuffle(v, src, width);
}

template <class T>
T __shfl_sync(unsigned, T v, int src_lane, int width = warpSize) {
    return sim::shuffle(v, unsigned(src_lane), width);
}

inline float atomicAdd(float* address, float v) {
    return std::atomic_ref<float>(*address).fetch_add(v);
}

using std::max;
using std::min;

// Bit casts.
template <class To, class From>
inline To sim_bits(From v) {
    static_assert(sizeof(To) == sizeof(From));
    To t;
    std::memcpy(&t, &v, sizeof(To));
    return t;
}
inline int __float_as_int(float f) { return sim_bits<int>(f); }
inline unsigned __float_as_uint(float f) { return sim_bits<unsigned>(f); }
inline float __int_as_float(int i) { return sim_bits<float>(i); }
inline float __uint_as_float(unsigned i) { return sim_bits<float>(i); }
inline long long __double_as_longlong(double d) { return sim_bits<long long>(d); }
inline double __longlong_as_double(long long i) { return sim_bits<double>(i); }

inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __fdividef(float a, float b) { return a / b; }
// expf, erff, tanhf, fmaxf, sqrtf, …: C's math.h, as on the device.

// bfloat16: the top 16 bits of an f32, rounded to nearest even (NaN kept quiet).
struct __nv_bfloat16 {
    uint16_t bits;
};

inline __nv_bfloat16 __float2bfloat16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return __nv_bfloat16{uint16_t((u >> 16) | 0x40u)};
    u += 0x7fffu + ((u >> 16) & 1u);
    return __nv_bfloat16{uint16_t(u >> 16)};
}

inline float __bfloat162float(__nv_bfloat16 b) {
    const uint32_t u = uint32_t(b.bits) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
