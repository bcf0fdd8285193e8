// CUDA on the CPU, part two: what kernels written for the GPU at large (dfdx's among them)
// use beyond `cuda_sim.h`: the `__half` type and its functions, and the atomics built on
// compare-and-swap. Included in place of the toolkit's
// `cuda_fp16.h` by the simulated toolchain (`simcuda`), which compiles every kernel source
// as C++20 for the CPU.
#pragma once

#include "cuda_sim.h"

#include <cstdint>
#include <cstring>
#include <type_traits>

// __half: IEEE binary16, converted from f32 with round to nearest even (as `__float2half`).
struct __half {
    uint16_t bits = 0;
    __half() = default;
    __half(float f);
    __half(double d) : __half(float(d)) {}
    __half(int i) : __half(float(i)) {}
    __half(unsigned i) : __half(float(i)) {}
    __half(long i) : __half(float(i)) {}
    __half(unsigned long i) : __half(float(i)) {}
    __half(long long i) : __half(float(i)) {}
    __half(unsigned long long i) : __half(float(i)) {}
    operator float() const;
};

inline __half __ushort_as_half(unsigned short b) {
    __half h;
    h.bits = b;
    return h;
}
inline unsigned short __half_as_ushort(__half h) { return h.bits; }

inline __half::__half(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    const uint32_t sign = (x >> 16) & 0x8000u;
    const uint32_t mag = x & 0x7fffffffu;
    if (mag > 0x7f800000u) {  // NaN: quiet, payload's top bits
        bits = uint16_t(sign | 0x7e00u | ((mag >> 13) & 0x3ffu));
        return;
    }
    if (mag >= 0x477ff000u) {  // rounds to ±inf (≥ 65520)
        bits = uint16_t(sign | 0x7c00u);
        return;
    }
    if (mag < 0x38800000u) {  // subnormal or zero in f16
        const float a = std::fabs(f);
        // a / 2^-24, rounded to nearest even
        const float scaled = a * 16777216.0f;
        bits = uint16_t(sign | uint32_t(std::nearbyint(scaled)));
        return;
    }
    const uint32_t e = (mag >> 23) - 112;  // rebias 127 → 15
    uint32_t m = mag & 0x7fffffu;
    uint32_t h = (e << 10) | (m >> 13);
    const uint32_t rest = m & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
    bits = uint16_t(sign | h);
}

inline __half::operator float() const {
    const uint32_t sign = uint32_t(bits & 0x8000u) << 16;
    const uint32_t e = (bits >> 10) & 0x1fu;
    const uint32_t m = bits & 0x3ffu;
    uint32_t x;
    if (e == 0) {
        const float v = float(m) / 16777216.0f;
        std::memcpy(&x, &v, 4);
        x |= sign;
    } else if (e == 31) {
        x = sign | 0x7f800000u | (m << 13);
    } else {
        x = sign | ((e + 112) << 23) | (m << 13);
    }
    float f;
    std::memcpy(&f, &x, 4);
    return f;
}

inline float __half2float(__half h) { return float(h); }
inline __half __float2half(float f) { return __half(f); }
inline bool __hisnan(__half h) { return (h.bits & 0x7fffu) > 0x7c00u; }
inline __half __hmax(__half a, __half b) { return float(a) >= float(b) ? a : b; }
inline __half __hmin(__half a, __half b) { return float(a) <= float(b) ? a : b; }
inline __half __habs(__half h) { return __ushort_as_half(h.bits & 0x7fffu); }
inline __half hexp(__half h) { return __half(std::exp(float(h))); }
inline __half hlog(__half h) { return __half(std::log(float(h))); }
inline __half hsqrt(__half h) { return __half(std::sqrt(float(h))); }
inline __half hsin(__half h) { return __half(std::sin(float(h))); }
inline __half hcos(__half h) { return __half(std::cos(float(h))); }

#define SIMCUDA_HALF_OP(op)                                                              \
    inline __half operator op(__half a, __half b) { return __half(float(a) op float(b)); } \
    inline __half& operator op##=(__half& a, __half b) { return a = a op b; }
SIMCUDA_HALF_OP(+)
SIMCUDA_HALF_OP(-)
SIMCUDA_HALF_OP(*)
SIMCUDA_HALF_OP(/)
#undef SIMCUDA_HALF_OP
inline __half operator-(__half a) { return __ushort_as_half(a.bits ^ 0x8000u); }
#define SIMCUDA_HALF_CMP(op) \
    inline bool operator op(__half a, __half b) { return float(a) op float(b); }
SIMCUDA_HALF_CMP(<)
SIMCUDA_HALF_CMP(>)
SIMCUDA_HALF_CMP(<=)
SIMCUDA_HALF_CMP(>=)
SIMCUDA_HALF_CMP(==)
SIMCUDA_HALF_CMP(!=)
#undef SIMCUDA_HALF_CMP

// Atomics: compare-and-swap, max/min, and the integer adds (dfdx's `compatibility.cuh`
// builds the f64 and f16 adds on compare-and-swap).
template <class T>
inline T atomicCAS(T* address, std::type_identity_t<T> compare, std::type_identity_t<T> value) {
    std::atomic_ref<T>(*address).compare_exchange_strong(compare, value);
    return compare;  // the old value either way
}
template <class T>
inline T atomicMax(T* address, std::type_identity_t<T> value) {
    std::atomic_ref<T> a(*address);
    T old = a.load();
    while (old < value && !a.compare_exchange_weak(old, value)) {
    }
    return old;
}
template <class T>
inline T atomicMin(T* address, std::type_identity_t<T> value) {
    std::atomic_ref<T> a(*address);
    T old = a.load();
    while (value < old && !a.compare_exchange_weak(old, value)) {
    }
    return old;
}
inline int atomicAdd(int* address, int v) { return std::atomic_ref<int>(*address).fetch_add(v); }
inline unsigned atomicAdd(unsigned* address, unsigned v) { return std::atomic_ref<unsigned>(*address).fetch_add(v); }
