// Shared macros for the CPU and CUDA front-ends: the math headers compile under both g++ and nvcc.
#pragma once

#ifdef __CUDACC__
#define A2D_HD __host__ __device__ __forceinline__
#else
#define A2D_HD inline
#endif

// Hot CPU kernels get an AVX2+FMA clone next to the portable one; the loader picks at run time
// (GNU ifunc), so one wheel is fast on modern x86 and still runs everywhere.
#if !defined(__CUDACC__) && defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    defined(__linux__)
#define A2D_MULTIVERSION __attribute__((target_clones("arch=x86-64-v3", "default"), flatten))
#else
#define A2D_MULTIVERSION
#endif
