// Lane vectors for the CPU kernels: L independent frames side by side, one SIMD lane per frame, as
// GCC/Clang vector-extension values. Every loop over frames is then plain arithmetic on these
// values, which the compiler maps to whatever registers the target (or the target clone) has:
// 8 lanes = one AVX register (two SSE/NEON registers on the portable build), 16 lanes = one
// AVX-512 register. Element alignment only, so vectors can live at any float offset.
#pragma once

#include <cstdint>
#include <cstring>

namespace a2d {

typedef float lanes8 __attribute__((vector_size(32), aligned(4)));
typedef int32_t ilanes8 __attribute__((vector_size(32), aligned(4)));
typedef float lanes16 __attribute__((vector_size(64), aligned(4)));
typedef int32_t ilanes16 __attribute__((vector_size(64), aligned(4)));
constexpr int kLanes = 8;

// Lanes<L>::V / ::I name the vector types by lane count. (Explicit specialisations: a vector
// typedef passed as a template argument directly would lose its aligned(4) attribute.)
template <int L>
struct Lanes;
template <>
struct Lanes<8> {
  typedef lanes8 V;
  typedef ilanes8 I;
};
template <>
struct Lanes<16> {
  typedef lanes16 V;
  typedef ilanes16 I;
};

// Unaligned load of L consecutive floats.
template <class V>
inline V load_unaligned(const float* p) {
  V v;
  std::memcpy(&v, p, sizeof(V));
  return v;
}

// Two-source lane shuffle with constant indices (GCC spells it differently before version 12).
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define A2D_SHUFFLE(IV, a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define A2D_SHUFFLE(IV, a, b, ...) __builtin_shuffle(a, b, IV{__VA_ARGS__})
#endif

// In-register transpose of an L x L float tile: afterwards r[c] holds old column c (lane l = old
// row l). The classic pattern, each step a single-instruction shuffle on AVX / AVX-512: interleave
// pairs of rows within 128-bit blocks (unpcklps / unpckhps), then pairs of those (shufps), which
// transposes every 4 x 4 block of the tile; then move whole 128-bit blocks (vperm2f128 for 8
// lanes, two rounds of vshuff32x4 for 16). 24 shuffles for 8 x 8, 64 for 16 x 16.
inline void transpose(lanes8* r) {
  lanes8 t[8], s[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = A2D_SHUFFLE(ilanes8, r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
    t[i + 1] = A2D_SHUFFLE(ilanes8, r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
  }
  for (int i = 0; i < 8; i += 4) {
    for (int j = 0; j < 2; ++j) {
      s[i + 2 * j] = A2D_SHUFFLE(ilanes8, t[i + j], t[i + j + 2], 0, 1, 8, 9, 4, 5, 12, 13);
      s[i + 2 * j + 1] = A2D_SHUFFLE(ilanes8, t[i + j], t[i + j + 2], 2, 3, 10, 11, 6, 7, 14, 15);
    }
  }
  // s[c] (c < 4) holds columns c and c + 4 of rows 0-3 (low / high 128 bits), s[c + 4] rows 4-7.
  for (int c = 0; c < 4; ++c) {
    r[c] = A2D_SHUFFLE(ilanes8, s[c], s[c + 4], 0, 1, 2, 3, 8, 9, 10, 11);
    r[c + 4] = A2D_SHUFFLE(ilanes8, s[c], s[c + 4], 4, 5, 6, 7, 12, 13, 14, 15);
  }
}

inline void transpose(lanes16* r) {
  lanes16 t[16], s[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = A2D_SHUFFLE(ilanes16, r[i], r[i + 1], 0, 16, 1, 17, 4, 20, 5, 21, 8, 24, 9, 25, 12, 28,
                       13, 29);
    t[i + 1] = A2D_SHUFFLE(ilanes16, r[i], r[i + 1], 2, 18, 3, 19, 6, 22, 7, 23, 10, 26, 11, 27,
                           14, 30, 15, 31);
  }
  for (int i = 0; i < 16; i += 4) {
    for (int j = 0; j < 2; ++j) {
      s[i + 2 * j] = A2D_SHUFFLE(ilanes16, t[i + j], t[i + j + 2], 0, 1, 16, 17, 4, 5, 20, 21, 8,
                                 9, 24, 25, 12, 13, 28, 29);
      s[i + 2 * j + 1] = A2D_SHUFFLE(ilanes16, t[i + j], t[i + j + 2], 2, 3, 18, 19, 6, 7, 22, 23,
                                     10, 11, 26, 27, 14, 15, 30, 31);
    }
  }
  // s[4 g + c] holds, in 128-bit block q, column 4 q + c of rows 4 g .. 4 g + 3.
  for (int c = 0; c < 4; ++c) {
    const lanes16 a = s[c], b = s[4 + c], d = s[8 + c], e = s[12 + c];
    // Blocks 0, 2 (even) and 1, 3 (odd) of rows 0-7, then of rows 8-15.
    const lanes16 ab_even = A2D_SHUFFLE(ilanes16, a, b, 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11,
                                        24, 25, 26, 27);
    const lanes16 ab_odd = A2D_SHUFFLE(ilanes16, a, b, 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15,
                                       28, 29, 30, 31);
    const lanes16 de_even = A2D_SHUFFLE(ilanes16, d, e, 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11,
                                        24, 25, 26, 27);
    const lanes16 de_odd = A2D_SHUFFLE(ilanes16, d, e, 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15,
                                       28, 29, 30, 31);
    r[c] = A2D_SHUFFLE(ilanes16, ab_even, de_even, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21,
                       22, 23);
    r[c + 8] = A2D_SHUFFLE(ilanes16, ab_even, de_even, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26,
                           27, 28, 29, 30, 31);
    r[c + 4] = A2D_SHUFFLE(ilanes16, ab_odd, de_odd, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21,
                           22, 23);
    r[c + 12] = A2D_SHUFFLE(ilanes16, ab_odd, de_odd, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27,
                            28, 29, 30, 31);
  }
}

// scale * ln(x) for L positive, normal, finite floats (Cephes logf, about 1 ulp), vectorised.
// x = 2^e m with m in [sqrt(1/2), sqrt(2)) (m's exponent field adjusted in integer arithmetic),
// z = m - 1, ln x = z - z^2/2 + z^3 P(z) + e ln 2. The scale is folded into the coefficients
// (ScaledLog, built once per call site): 13 multiply-adds per vector instead of 16 for the log and
// a product.
struct ScaledLog {
  float p[9];  // scale * P's coefficients, highest degree first
  float half, one, ln2;
  explicit ScaledLog(float scale)
      : p{7.0376836292E-2f * scale,  -1.1514610310E-1f * scale, 1.1676998740E-1f * scale,
          -1.2420140846E-1f * scale, 1.4249322787E-1f * scale,  -1.6668057665E-1f * scale,
          2.0000714765E-1f * scale,  -2.4999993993E-1f * scale, 3.3333331174E-1f * scale},
        half(0.5f * scale),
        one(scale),
        ln2(0.693147180559945f * scale) {}
};

template <class V, class I>
inline V scaled_log_lanes(V x, const ScaledLog& c) {
  const I bits = reinterpret_cast<I&>(x);
  I mbits = (bits & 0x7fffff) | 0x3f800000;  // m in [1, 2)
  const I big = mbits > 0x3fb504f3;          // -1 where m > sqrt(2): halve m, one more in e
  mbits += big & -0x00800000;
  const I e = ((bits >> 23) & 0xff) - 127 - big;
  const V m = reinterpret_cast<V&>(mbits);
  const V z = m - 1.0f;
  const V z2 = z * z;
  V y = c.p[0] * z + c.p[1];
  for (int i = 2; i < 9; ++i) y = y * z + c.p[i];  // scale P(z)
  y = (y * z - c.half) * z2 + z * c.one;             // scale (z - z^2/2 + z^3 P(z))
  const V ef = __builtin_convertvector(e, V);
  return ef * c.ln2 + y;
}

}  // namespace a2d
