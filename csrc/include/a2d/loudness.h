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

// A stretch of one signal filtered as a recursion of its own, from a zero state at `from`. The
// samples [from, start) only warm the state up: a stable filter forgets its initial state
// geometrically, so after enough samples (the caller's `warmup`, from the filter's poles) the state
// equals the one of a single pass to within rounding. Splitting one long signal into such
// segments gives independent recursions to interleave (the recursion of one signal is
// latency-bound: two interleaved cost about what one does). `pre` samples run alone first, so
// that the segments of a group all have the same length left for the interleaved run.
struct Segment {
  const float* x;  // the whole signal
  int64_t from, start, end, pre;
  std::vector<int64_t> marks;  // sorted positions in [start, end], `start` first, `end` last
  std::vector<double> sums;    // out: the sum of squares of the output from `from` to each mark
};

// Runs G segments: each its `pre` samples alone, then `common` samples interleaved, recording the
// running sum of squares at every mark.
template <int G>
void k_weighted_segments(Segment* const* seg, int64_t common, const Biquad* stages, int n_stages) {
  double z1[kMaxBiquads][G] = {};
  double z2[kMaxBiquads][G] = {};
  double acc[G] = {};
  int64_t pos[G];
  size_t next[G];
  auto record = [&](int g) {
    Segment& s = *seg[g];
    while (next[g] < s.marks.size() && s.marks[next[g]] == pos[g]) s.sums[next[g]++] = acc[g];
  };
  for (int g = 0; g < G; ++g) {
    pos[g] = seg[g]->from;
    next[g] = 0;
    seg[g]->sums.assign(seg[g]->marks.size(), 0.0);
    record(g);
    for (int64_t t = 0; t < seg[g]->pre; ++t) {
      double v = static_cast<double>(seg[g]->x[pos[g]]);
      for (int k = 0; k < n_stages; ++k) {
        const Biquad& q = stages[k];
        const double y = z1[k][g] + q.b0 * v;
        z1[k][g] = z2[k][g] + q.b1 * v - q.a1 * y;
        z2[k][g] = q.b2 * v - q.a2 * y;
        v = y;
      }
      acc[g] += v * v;
      ++pos[g];
      record(g);
    }
  }
  for (int64_t done = 0; done < common;) {
    int64_t step = common - done;
    const float* x[G];
    for (int g = 0; g < G; ++g) {
      if (next[g] < seg[g]->marks.size()) step = std::min(step, seg[g]->marks[next[g]] - pos[g]);
      x[g] = seg[g]->x + pos[g];
    }
    for (int64_t i = 0; i < step; ++i) {
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
      for (int g = 0; g < G; ++g) acc[g] += v[g] * v[g];
    }
    for (int g = 0; g < G; ++g) {
      pos[g] += step;
      record(g);
    }
    done += step;
  }
}

// audio (signals, length) float32 -> out (signals, blocks) float64 sums of squares; lo/hi hold
// `blocks` sample indices with 0 <= lo <= hi <= length (checked by the caller). Each signal is
// split into `lanes` segments (1: one exact pass; more: see Segment, with `warmup` samples of
// overlap); the segments are filtered in groups of up to 4, the groups spread over threads.
inline void k_weighted_block_energy_cpu(const float* audio, int64_t signals, int64_t length,
                                        const Biquad* stages, int n_stages, const int64_t* lo,
                                        const int64_t* hi, int64_t blocks, double* out,
                                        int num_threads, int lanes = 1, int64_t warmup = 0) {
  if (lanes < 1 || warmup < 0 || (length - warmup) / lanes < std::max<int64_t>(warmup, 1)) {
    lanes = 1;  // too short to split (or nothing to split): one exact pass
  }
  if (lanes == 1) warmup = 0;
  const int64_t body = (length - warmup) / lanes;
  const int64_t extra = (length - warmup) - body * lanes;  // run alone by the first segment
  std::vector<int64_t> marks(lo, lo + blocks);
  marks.insert(marks.end(), hi, hi + blocks);
  std::sort(marks.begin(), marks.end());
  marks.erase(std::unique(marks.begin(), marks.end()), marks.end());
  std::vector<Segment> segs(static_cast<size_t>(signals * lanes));
  for (int64_t s = 0; s < signals; ++s) {
    for (int j = 0; j < lanes; ++j) {
      Segment& g = segs[static_cast<size_t>(s * lanes + j)];
      g.x = audio + s * length;
      g.start = j == 0 ? 0 : extra + warmup + body * j;
      g.end = extra + warmup + body * (j + 1);
      g.from = j == 0 ? 0 : g.start - warmup;
      g.pre = j == 0 ? extra : 0;
      g.marks.assign(1, g.start);
      for (int64_t m : marks) {
        if (m > g.start && m < g.end) g.marks.push_back(m);
      }
      if (g.end > g.start) g.marks.push_back(g.end);
    }
  }
  const int64_t common = body + warmup;
  constexpr int64_t kGroup = 4;
  const int64_t total = static_cast<int64_t>(segs.size());
  const int64_t groups = (total + kGroup - 1) / kGroup;
  parallel_for(groups, num_threads, [&](int, std::atomic<int64_t>& next) {
    FlushDenormals flush;
    for (int64_t u = next++; u < groups; u = next++) {
      Segment* g[kGroup];
      const int64_t n = std::min<int64_t>(kGroup, total - u * kGroup);
      for (int64_t k = 0; k < n; ++k) g[k] = &segs[static_cast<size_t>(u * kGroup + k)];
      switch (n) {
        case 4: k_weighted_segments<4>(g, common, stages, n_stages); break;
        case 3: k_weighted_segments<3>(g, common, stages, n_stages); break;
        case 2: k_weighted_segments<2>(g, common, stages, n_stages); break;
        default: k_weighted_segments<1>(g, common, stages, n_stages);
      }
    }
  });
  // The running sum over the whole signal at each mark: the earlier segments' totals plus this
  // segment's sum since its start (one segment: exactly the single pass's running sum).
  std::vector<double> at(marks.size());
  for (int64_t s = 0; s < signals; ++s) {
    double offset = 0.0;
    size_t m = 0;
    for (int j = 0; j < lanes; ++j) {
      const Segment& g = segs[static_cast<size_t>(s * lanes + j)];
      const double base = g.sums[0];
      for (size_t k = 1; k < g.marks.size(); ++k) {
        while (m < marks.size() && marks[m] < g.marks[k]) ++m;
        if (m < marks.size() && marks[m] == g.marks[k]) at[m] = offset + (g.sums[k] - base);
      }
      offset += g.sums.back() - base;
    }
    if (!marks.empty() && marks[0] == 0) at[0] = 0.0;
    double* o = out + s * blocks;
    for (int64_t b = 0; b < blocks; ++b) {
      const size_t i = static_cast<size_t>(std::lower_bound(marks.begin(), marks.end(), hi[b]) - marks.begin());
      const size_t k = static_cast<size_t>(std::lower_bound(marks.begin(), marks.end(), lo[b]) - marks.begin());
      o[b] = at[i] - at[k];
    }
  }
}

}  // namespace a2d
