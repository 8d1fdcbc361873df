// BS.1770 K-weighted block energies: each signal through a cascade of biquads (direct form II
// transposed in double precision, the recursion of scipy.signal.lfilter), then the sum of squares
// of the filtered signal over each block [lo, hi) from one running prefix sum. The gating that
// turns block energies into integrated loudness is cheap and stays in Python (a2d/loudness.py).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <vector>

#include "a2d/parallel.h"

#if defined(__SSE2__) || defined(_M_X64)
#include <xmmintrin.h>
#define A2D_HAVE_MXCSR 1
#endif

namespace a2d {

// Flush subnormal doubles to zero in this thread while alive (x86). A filter ringing down after a
// note ends reaches subnormal states, where each operation costs ~100 cycles: renders that end
// in silence took 10x longer. Subnormal values are below 1e-307; no block energy can notice.
class FlushDenormals {
 public:
#ifdef A2D_HAVE_MXCSR
  FlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040); }  // FTZ | DAZ
  ~FlushDenormals() { _mm_setcsr(saved_); }

 private:
  unsigned int saved_;
#endif
};

// One normalised biquad (a0 = 1): y = b0 x + z1; z1 = z2 + b1 x - a1 y; z2 = b2 x - a2 y.
struct Biquad {
  double b0, b1, b2, a1, a2;
};

constexpr int kMaxBiquads = 8;

// Filters G signals at once (G independent recursions interleaved: the recursion of one signal
// is latency-bound, so a stereo pair costs about what one channel does), writing their block sums.
template <int G>
void k_weighted_group(const float* const* x, int64_t length, const Biquad* stages, int n_stages,
                      const int64_t* lo, const int64_t* hi, int64_t blocks, double* const* out,
                      std::vector<double>& prefix) {
  prefix.assign(static_cast<size_t>(length + 1) * G, 0.0);
  double z1[kMaxBiquads][G] = {};
  double z2[kMaxBiquads][G] = {};
  double acc[G] = {};
  for (int64_t i = 0; i < length; ++i) {
    double v[G];
    for (int g = 0; g < G; ++g) v[g] = static_cast<double>(x[g][i]);
    for (int k = 0; k < n_stages; ++k) {
      const Biquad& q = stages[k];
      for (int g = 0; g < G; ++g) {
        const double y = z1[k][g] + q.b0 * v[g];
        z1[k][g] = z2[k][g] + q.b1 * v[g] - q.a1 * y;
        z2[k][g] = q.b2 * v[g] - q.a2 * y;
        v[g] = y;
      }
    }
    for (int g = 0; g < G; ++g) {
      acc[g] += v[g] * v[g];
      prefix[static_cast<size_t>(i + 1) * G + g] = acc[g];
    }
  }
  for (int g = 0; g < G; ++g) {
    for (int64_t j = 0; j < blocks; ++j) {
      out[g][j] = prefix[static_cast<size_t>(hi[j]) * G + g] - prefix[static_cast<size_t>(lo[j]) * G + g];
    }
  }
}

// audio (signals, length) float32 -> out (signals, blocks) float64 sums of squares; lo/hi hold
// `blocks` sample indices with 0 <= lo <= hi <= length (checked by the caller). Signals are
// filtered in groups of up to 4, the groups spread over threads.
inline void k_weighted_block_energy_cpu(const float* audio, int64_t signals, int64_t length,
                                        const Biquad* stages, int n_stages, const int64_t* lo,
                                        const int64_t* hi, int64_t blocks, double* out,
                                        int num_threads) {
  constexpr int64_t kGroup = 4;
  const int64_t groups = (signals + kGroup - 1) / kGroup;
  parallel_for(groups, num_threads, [&](int, std::atomic<int64_t>& next) {
    FlushDenormals flush;
    std::vector<double> prefix;
    for (int64_t u = next++; u < groups; u = next++) {
      const int64_t s0 = u * kGroup;
      const int64_t n = std::min<int64_t>(kGroup, signals - s0);
      const float* x[kGroup];
      double* o[kGroup];
      for (int64_t g = 0; g < n; ++g) {
        x[g] = audio + (s0 + g) * length;
        o[g] = out + (s0 + g) * blocks;
      }
      switch (n) {
        case 4: k_weighted_group<4>(x, length, stages, n_stages, lo, hi, blocks, o, prefix); break;
        case 3: k_weighted_group<3>(x, length, stages, n_stages, lo, hi, blocks, o, prefix); break;
        case 2: k_weighted_group<2>(x, length, stages, n_stages, lo, hi, blocks, o, prefix); break;
        default: k_weighted_group<1>(x, length, stages, n_stages, lo, hi, blocks, o, prefix);
      }
    }
  });
}

}  // namespace a2d
