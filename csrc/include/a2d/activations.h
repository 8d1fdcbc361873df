// Elementwise activations for the torch-free sampler (a2d/kernels/npnn.py holds the NumPy
// reference the tests compare against).
#pragma once

#include <cmath>
#include <cstdint>

#include "a2d/common.h"

namespace a2d {

// exp(x) for x <= 0 in float32 without a libm call, so that the loop below vectorises: x = n ln2
// + r with |r| <= ln2 / 2, exp(r) by its degree-6 Taylor polynomial (relative error < 2e-7 on
// that range), 2^n put into the exponent bits. Underflows to 0 below -87.
// No float-to-int conversion (it may trap, which keeps GCC from vectorising): n's bits are read
// from the rounding sum itself.
A2D_HD float exp_nonpositive(float x) {
  x = x < -87.0f ? -87.0f : x;
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds to the nearest integer
  const float m = x * 1.44269504088896341f + kRound;
  const float n = m - kRound;
  const float r = (x - n * 0.693145751953125f) - n * 1.428606765330187e-06f;
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t bits = (__builtin_bit_cast(int32_t, m) - 0x4B400000 + 127) << 23;  // 2^n
  return p * __builtin_bit_cast(float, bits);
}

// Exact GELU, y = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), in float32 with the erf that torch's
// vectorised CPU kernel uses (Abramowitz and Stegun 7.1.26: absolute error below 1.5e-7, so the
// result is within a few float32 ulps of erff's). The loop vectorises (AVX2 clone); the clamp in
// exp_nonpositive needs floating-point compares that may not trap for that.
__attribute__((optimize("no-trapping-math"))) A2D_MULTIVERSION inline void gelu_cpu(const float* __restrict x, float* __restrict y, int64_t n) {
  constexpr float kInvSqrt2 = 0.70710678118654752440f;
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float z = std::fabs(v * kInvSqrt2);
    const float t = 1.0f / (1.0f + 0.3275911f * z);
    float r = 1.061405429f;
    r = r * t - 1.453152027f;
    r = r * t + 1.421413741f;
    r = r * t - 0.284496736f;
    r = r * t + 0.254829592f;
    const float erf_abs = 1.0f - r * t * exp_nonpositive(-z * z);
    const float erf = std::copysign(erf_abs, v);
    y[i] = 0.5f * v * (1.0f + erf);
  }
}

}  // namespace a2d
