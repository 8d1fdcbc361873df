// Shared macros for the CPU and CUDA front-ends: the math headers compile under both g++ and nvcc.
#pragma once

#ifdef __CUDACC__
#define A2D_HD __host__ __device__ __forceinline__
#else
#define A2D_HD inline
#endif

// Hot CPU kernels get an AVX2+FMA clone next to the portable one; the loader picks at run time
// (GNU ifunc), so one wheel is fast on modern x86 and still runs everywhere. Kernels written for
// 16 lanes are compiled for x86-64-v4 (AVX-512) only, and called only when cpu_has_v4().
// Elsewhere the kernels are still flattened (everything inlined): the lane vectors must stay in
// registers, not go through the stack at every call.
// Defining A2D_NO_DISPATCH builds the portable kernels only (to test them on any machine).
#if !defined(__CUDACC__) && defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    defined(__linux__) && !defined(A2D_NO_DISPATCH)
#define A2D_MULTIVERSION __attribute__((target_clones("arch=x86-64-v3", "default"), flatten))
#define A2D_HAVE_V4 1
#define A2D_TARGET_V4 __attribute__((target("arch=x86-64-v4"), flatten))
namespace a2d {
inline bool cpu_has_v4() { return __builtin_cpu_supports("x86-64-v4"); }
}  // namespace a2d
#elif !defined(__CUDACC__) && defined(__GNUC__)
#define A2D_MULTIVERSION __attribute__((flatten))
#define A2D_HAVE_V4 0
#else
#define A2D_MULTIVERSION
#define A2D_HAVE_V4 0
#endif
