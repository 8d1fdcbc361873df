// CPU log-mel driver: frames of one signal are processed L at a time (one SIMD lane per frame)
// through window -> real FFT -> power -> sparse mel product -> log, spread over threads by
// signal (or slices of signals when there are few); each block reports its peak and whether it
// saw NaN/inf, and the dB reference / top_db clip is applied per signal once its peak is known.
// L = 16 on CPUs with AVX-512 (x86-64-v4), else L = 8 (an AVX2+FMA clone and a portable one).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <vector>

#include "a2d/common.h"
#include "a2d/fft.h"
#include "a2d/mel_math.h"
#include "a2d/parallel.h"
#include "a2d/simd.h"

namespace a2d {

// FFT plan and real-split tables for one n_fft, built once per process and shared by calls.
// Even n_fft packs the frame into a complex signal z[i] = x[2i] + i x[2i+1] of length m = n / 2
// and splits its transform Z afterwards: with a = k mod m, b = (m - k) mod m,
// X[k] = (Z[a] + conj Z[b]) / 2 - i W^k (Z[a] - conj Z[b]) / 2, W = e^{-2 pi i / n}.
struct MelPlan {
  FftPlan fft;
  std::vector<float> post_re, post_im;  // cos/sin(-2 pi k / n_fft), k = 0 .. n_fft / 2
  explicit MelPlan(int n_fft) : fft(n_fft % 2 == 0 ? n_fft / 2 : n_fft) {
    for (int k = 0; k <= n_fft / 2; ++k) {
      const double a = -2.0 * M_PI * k / n_fft;
      post_re.push_back(static_cast<float>(std::cos(a)));
      post_im.push_back(static_cast<float>(std::sin(a)));
    }
  }
};

inline const MelPlan& mel_plan(int n_fft) {
  static std::mutex mutex;
  static std::map<int, std::unique_ptr<MelPlan>> plans;
  std::lock_guard<std::mutex> lock(mutex);
  std::unique_ptr<MelPlan>& slot = plans[n_fft];
  if (!slot) slot = std::make_unique<MelPlan>(n_fft);
  return *slot;
}

// 64-byte aligned float buffer (one cache line; full-width vector loads never split lines).
struct AlignedFloats {
  float* data = nullptr;
  explicit AlignedFloats(size_t n)
      : data(static_cast<float*>(::operator new[](std::max<size_t>(n, 1) * sizeof(float),
                                                    std::align_val_t(64)))) {}
  ~AlignedFloats() { ::operator delete[](data, std::align_val_t(64)); }
  AlignedFloats(const AlignedFloats&) = delete;
  AlignedFloats& operator=(const AlignedFloats&) = delete;
};

// Per-thread scratch for one block of L frames.
template <int L>
struct MelScratch {
  int m, n_bins, frame_span;
  AlignedFloats re, im, wre, wim, v, power, bands, frames;
  MelScratch(const MelParams& p, const FftPlan& plan)
      : m(plan.size()),
        n_bins(p.n_bins),
        frame_span((L - 1) * p.hop + p.n_fft),
        re(static_cast<size_t>(m) * L),
        im(static_cast<size_t>(m) * L),
        wre(static_cast<size_t>(m) * L),
        wim(static_cast<size_t>(m) * L),
        v(static_cast<size_t>(plan.scratch_vectors()) * L),
        power(static_cast<size_t>(n_bins) * L),
        bands(static_cast<size_t>(p.n_mels) * L),
        frames(static_cast<size_t>(frame_span)) {}
};

// Windowed frames f0 .. f0 + L - 1 into the FFT input (element i of the complex FFT input goes to
// vector in_pos[i]). Lane l's frame starts at src + l * hop. Even n: z[i] = x[2i] + i x[2i+1];
// odd n: z[i] = x[i]. L x L tiles are loaded frame by frame as whole vectors, windowed and
// transposed in registers, so each vector store fills a whole lane vector (no per-lane inserts).
template <int L>
inline void load_frames(const float* src, int64_t hop, const float* window, int n,
                        const int32_t* in_pos, float* re, float* im) {
  using V = typename Lanes<L>::V;
  V* vre = reinterpret_cast<V*>(re);
  V* vim = reinterpret_cast<V*>(im);
  const bool even = n % 2 == 0;
  const int tiles = n / L;
  int c0 = 0;
  for (int tile = 0; tile < tiles; ++tile, c0 += L) {
    V rows[L];
    const V w = load_unaligned<V>(window + c0);
    const float* row = src + c0;
    for (int l = 0; l < L; ++l, row += hop) rows[l] = load_unaligned<V>(row) * w;
    transpose(rows);  // rows[c] = sample c0 + c of every frame
    if (even) {
      for (int c = 0; c < L; c += 2) {
        const int i = in_pos[(c0 + c) / 2];
        vre[i] = rows[c];
        vim[i] = rows[c + 1];
      }
    } else {
      for (int c = 0; c < L; ++c) {
        const int i = in_pos[c0 + c];
        vre[i] = rows[c];
        vim[i] = V{};
      }
    }
  }
  for (int c = c0; c < n; ++c) {  // the last n mod L samples, lane by lane
    V value;
    for (int l = 0; l < L; ++l) value[l] = src[l * hop + c] * window[c];
    if (even) {
      (c % 2 == 0 ? vre : vim)[in_pos[c / 2]] = value;
    } else {
      vre[in_pos[c]] = value;
      vim[in_pos[c]] = V{};
    }
  }
}

// Largest output of a block and whether any was NaN/inf (valid lanes only).
struct BlockStats {
  float peak;
  bool bad;
};

// Mel power (or magnitude), in dB units when to_db, of frames [f0, f0 + L) of one signal, written
// to out (n_mels, frames).
template <int L, int Regs>
inline BlockStats mel_block(const MelParams& p, const MelPlan& mp, const float* window,
                            const MelFilters& filters, const float* x, int64_t f0, float* out,
                            MelScratch<L>& s) {
  using V = typename Lanes<L>::V;
  using I = typename Lanes<L>::I;
  const FftPlan& plan = mp.fft;
  const int n = p.n_fft;
  const bool even = (n % 2) == 0;
  // Source of the L frames: the signal itself when they lie inside it, else a copy of the span
  // they cover with the padding applied (signal edges; lanes past the last frame read padding).
  const int64_t first = f0 * p.hop - p.pad;
  const int64_t span = (L - 1) * p.hop + n;
  const float* src = x + first;
  if (first < 0 || first + span > p.length) {
    float* buf = s.frames.data;
    for (int64_t t = 0; t < span; ++t) {
      const int64_t idx = padded_index(first + t, p.length, p.pad_mode);
      buf[t] = idx < 0 ? 0.0f : x[idx];
    }
    src = buf;
  }
  load_frames<L>(src, p.hop, window, n, plan.in_pos().data(), s.re.data, s.im.data);
  V* const vre = reinterpret_cast<V*>(s.re.data);
  V* const vim = reinterpret_cast<V*>(s.im.data);
  const FftResult<L> z =
      fft_forward<L, Regs>(plan, vre, vim, reinterpret_cast<V*>(s.wre.data),
                           reinterpret_cast<V*>(s.wim.data), reinterpret_cast<V*>(s.v.data));
  const V* zr = z.re;
  const V* zi = z.im;
  V* pw = reinterpret_cast<V*>(s.power.data);
  // This block's output, L floats in each band's row (two cache lines when unaligned), is
  // prefetched for writing while the power spectrum is formed: the stores would otherwise wait on
  // memory. Step k of the loop below hints band k n_mels / steps (fixed point, no branches), so
  // the hints are spread over the whole loop. (Issued during the load, or all in the first
  // steps, they are lost; a running credit costs more in branch mispredictions: measured.)
  const int valid = static_cast<int>(std::min<int64_t>(L, p.frames - f0));
  const int steps = even ? plan.size() / 2 + 1 : p.n_bins;
  const uint64_t band_step = ((static_cast<uint64_t>(p.n_mels) << 32) + steps - 1) / steps;
  // (The hints are issued in the loops themselves: GCC drops a function or lambda whose only
  // effect is a prefetch.)
  auto output_row = [&](int k) {
    const int band = std::min(p.n_mels - 1, static_cast<int>((k * band_step) >> 32));
    return out + static_cast<int64_t>(band) * p.frames + f0;
  };
  // Spectrum scale folded into the band sums below (a power of two, so exact).
  float scale = 1.0f;
  if (even) {
    // 2 X[k] = S + W^k (D.im - i D.re) with S = Z[a] + conj Z[b], D = Z[a] - conj Z[b]; the
    // power of 2 X[k] is 4 |X[k]|^2 (magnitude: 2 |X[k]|), undone by `scale`. Bins k and m - k
    // share Z[k], Z[m - k] (S and D change sign, W^{m-k} = -conj W^k): with
    // P + iQ = W^k (D.im - i D.re), 2 X[k] = (S.re + P) + i (S.im + Q) and
    // 2 X[m-k] = (S.re - P) + i (Q - S.im), so each pair is one set of loads and products.
    const int m = plan.size();
    for (int k = 0; 2 * k <= m; ++k) {
      const float* row = output_row(k);
      __builtin_prefetch(row, 1, 3);
      __builtin_prefetch(row + valid - 1, 1, 3);
      const int b = k == 0 ? 0 : m - k;
      const V ar = zr[k], ai = zi[k], br = zr[b], bi = zi[b];
      const float wr = mp.post_re[k], wi = mp.post_im[k];
      const V sr = ar + br, si = ai - bi, dr = ar - br, di = ai + bi;
      const V pp = wr * di + wi * dr;
      const V qq = wi * di - wr * dr;
      const V xr = sr + pp, xi = si + qq, yr = sr - pp, yi = qq - si;
      pw[k] = xr * xr + xi * xi;
      if (2 * k == m) continue;  // bin m / 2 pairs with itself
      pw[m - k] = yr * yr + yi * yi;
    }
    scale = p.magnitude ? 0.5f : 0.25f;
  } else {
    for (int k = 0; k < p.n_bins; ++k) {
      const float* row = output_row(k);
      __builtin_prefetch(row, 1, 3);
      __builtin_prefetch(row + valid - 1, 1, 3);
      pw[k] = zr[k] * zr[k] + zi[k] * zi[k];
    }
  }
  if (p.magnitude) {
    for (int k = 0; k < p.n_bins; ++k) {
      for (int l = 0; l < L; ++l) pw[k][l] = std::sqrt(pw[k][l]);
    }
  }
  // amin below the smallest normal float needs the exact libm log (subnormals, zero).
  const bool fast_db = p.to_db && p.amin >= 1.17549435e-38f;
  const ScaledLog log10_db(db_factor(p) * 0.434294481903252f);  // factor * log10(s)
  // Band sums first (independent chains, overlapped by the CPU), then the logs in a second loop.
  V* bands = reinterpret_cast<V*>(s.bands.data);
  for (int band = 0; band < p.n_mels; ++band) {
    V acc = {};
    const float* w = filters.weights + filters.offset[band];
    const V* src_k = pw + filters.start[band];
    for (int k = 0; k < filters.len[band]; ++k) acc += w[k] * src_k[k];
    bands[band] = acc * scale;
  }
  // Meanwhile the next block's new samples, [first + span, first + L hop + span) clipped to the
  // signal, are prefetched into L2, a few lines per band: the next load would otherwise stall on
  // memory. (Issued during this block's load or FFT instead, they help far less: measured.)
  const int64_t ahead = std::min(p.length, std::max<int64_t>(0, first + span));
  const int64_t ahead_end = std::max(ahead, std::min<int64_t>(p.length, first + L * p.hop + span));
  const int64_t ahead_lines = (ahead_end - ahead + 15) / 16;
  const int64_t per_band = (ahead_lines + p.n_mels - 1) / p.n_mels;  // a fixed count per band
  V peak = V{} - INFINITY;
  I bad = {};
  for (int band = 0; band < p.n_mels; ++band) {
    for (int64_t j = band * per_band; j < (band + 1) * per_band; ++j) {
      if (j < ahead_lines) __builtin_prefetch(x + ahead + 16 * j, 0, 2);
    }
    V acc = bands[band];
    // NaN/inf band sums (from NaN/inf audio) flag the block; its outputs are then unspecified.
    bad |= (acc - acc) != 0.0f;
    if (fast_db) {
      // factor * log10(max(amin, s))
      acc = scaled_log_lanes<V, I>(acc > p.amin ? acc : V{} + p.amin, log10_db);
    } else if (p.to_db) {
      for (int l = 0; l < L; ++l) acc[l] = db_factor(p) * std::log10(std::max(acc[l], p.amin));
    }
    peak = acc > peak ? acc : peak;
    float* dst = out + band * p.frames + f0;
    if (valid == L) {
      std::memcpy(dst, &acc, sizeof(V));
    } else {
      for (int l = 0; l < valid; ++l) dst[l] = acc[l];
    }
  }
  BlockStats stats{-INFINITY, false};
  for (int l = 0; l < valid; ++l) {
    stats.peak = std::max(stats.peak, peak[l]);
    stats.bad = stats.bad || bad[l] != 0;
  }
  return stats;
}

// The per-ISA block kernels. Eight lanes: AVX2+FMA clone and portable default (target_clones);
// sixteen lanes: an AVX-512 build picked at run time when the CPU has it. One call per block, so
// the threads' lambdas (compiled for the baseline ISA) only dispatch.
A2D_MULTIVERSION
inline BlockStats mel_block8(const MelParams& p, const MelPlan& mp, const float* window,
                             const MelFilters& filters, const float* x, int64_t f0, float* out,
                             MelScratch<8>& s) {
  return mel_block<8, 16>(p, mp, window, filters, x, f0, out, s);
}

#if A2D_HAVE_V4
A2D_TARGET_V4
inline BlockStats mel_block16(const MelParams& p, const MelPlan& mp, const float* window,
                              const MelFilters& filters, const float* x, int64_t f0, float* out,
                              MelScratch<16>& s) {
  return mel_block<16, 32>(p, mp, window, filters, x, f0, out, s);
}
#endif

// The dB finish (a2d/mel_math.h) in place over one signal's output.
inline void finish_db(const MelParams& p, float peak, float* s, int64_t count) {
  const DbFinish d = db_finish(p, peak);
  for (int64_t i = 0; i < count; ++i) s[i] = finish_db_value(s[i], d);
}

// Every block of L frames of every signal; block(...) is mel_block8/16. Threads take units of
// consecutive blocks of one signal: whole signals when there are enough of them to keep every
// thread busy (then the thread that computed a signal also finishes its dB, while the output is
// still in its cache), else slices of signals, finished by a second pass. Returns false if any
// output is not finite.
template <int L, class Block>
inline bool mel_blocks(const MelParams& p, const MelPlan& mp, const float* window,
                       const MelFilters& filters, const float* audio, int64_t signals, float* out,
                       int num_threads, Block block) {
  if (num_threads <= 0) num_threads = default_num_threads();
  const int64_t blocks = (p.frames + L - 1) / L;
  const int64_t per_signal = static_cast<int64_t>(p.n_mels) * p.frames;
  // Units per signal: 1 when signals >= 4 threads, else enough for about 4 units per thread.
  const int64_t want = 4 * static_cast<int64_t>(num_threads);
  const int64_t slices =
      std::min<int64_t>(blocks, std::max<int64_t>(1, (want + signals - 1) / signals));
  const int64_t per_slice = (blocks + slices - 1) / slices;
  const int64_t units = signals * slices;
  std::vector<BlockStats> stats(static_cast<size_t>(units));
  parallel_for(units, num_threads, [&](int, std::atomic<int64_t>& next) {
    MelScratch<L> scratch(p, mp.fft);
    for (int64_t u = next++; u < units; u = next++) {
      const int64_t sig = u / slices;
      const int64_t b0 = (u % slices) * per_slice;
      const int64_t b1 = std::min(blocks, b0 + per_slice);
      BlockStats acc{-INFINITY, false};
      float* o = out + sig * per_signal;
      for (int64_t b = b0; b < b1; ++b) {
        const BlockStats st =
            block(p, mp, window, filters, audio + sig * p.length, b * L, o, scratch);
        acc.peak = std::max(acc.peak, st.peak);
        acc.bad = acc.bad || st.bad;
      }
      stats[u] = acc;
      if (slices == 1 && p.to_db && !acc.bad) finish_db(p, acc.peak, o, per_signal);
    }
  });
  bool finite = true;
  for (const BlockStats& st : stats) finite = finite && !st.bad;
  if (!finite || slices == 1 || !p.to_db) return finite;
  parallel_for(signals, num_threads, [&](int, std::atomic<int64_t>& next) {
    for (int64_t sig = next++; sig < signals; sig = next++) {
      float peak = -INFINITY;
      for (int64_t j = 0; j < slices; ++j) peak = std::max(peak, stats[sig * slices + j].peak);
      finish_db(p, peak, out + sig * per_signal, per_signal);
    }
  });
  return true;
}

// Lane counts this CPU can run (the widest first); `lanes` arguments below take one of them, or 0
// for the widest.
inline std::vector<int> simd_lane_options() {
  std::vector<int> out;
#if A2D_HAVE_V4
  if (cpu_has_v4()) out.push_back(16);
#endif
  out.push_back(8);
  return out;
}

inline int resolve_lanes(int lanes) {
  const std::vector<int> options = simd_lane_options();
  if (lanes == 0) return options.front();
  for (int o : options) {
    if (o == lanes) return o;
  }
  throw std::invalid_argument("lanes must be 0 or one of this CPU's SIMD lane counts");
}

// Complex FFT of `rows` signals of length n, interleaved complex64 in and out, through the same
// plan and kernels as the mel driver (test hook for the transform alone).
template <int L, int Regs>
inline void fft_rows(const FftPlan& plan, const float* in, float* out, int64_t rows) {
  using V = typename Lanes<L>::V;
  const int n = plan.size();
  AlignedFloats re(static_cast<size_t>(n) * L), im(static_cast<size_t>(n) * L);
  AlignedFloats wre(static_cast<size_t>(n) * L), wim(static_cast<size_t>(n) * L);
  AlignedFloats v(static_cast<size_t>(plan.scratch_vectors()) * L);
  V* vre = reinterpret_cast<V*>(re.data);
  V* vim = reinterpret_cast<V*>(im.data);
  for (int64_t r0 = 0; r0 < rows; r0 += L) {
    const int lanes = static_cast<int>(std::min<int64_t>(L, rows - r0));
    for (int i = 0; i < n; ++i) {
      V a = {}, b = {};
      for (int l = 0; l < lanes; ++l) {
        a[l] = in[2 * ((r0 + l) * n + i)];
        b[l] = in[2 * ((r0 + l) * n + i) + 1];
      }
      vre[plan.in_pos()[i]] = a;
      vim[plan.in_pos()[i]] = b;
    }
    const FftResult<L> z =
        fft_forward<L, Regs>(plan, vre, vim, reinterpret_cast<V*>(wre.data),
                             reinterpret_cast<V*>(wim.data), reinterpret_cast<V*>(v.data));
    for (int k = 0; k < n; ++k) {
      for (int l = 0; l < lanes; ++l) {
        out[2 * ((r0 + l) * n + k)] = z.re[k][l];
        out[2 * ((r0 + l) * n + k) + 1] = z.im[k][l];
      }
    }
  }
}

A2D_MULTIVERSION
inline void fft_rows8(const FftPlan& plan, const float* in, float* out, int64_t rows) {
  fft_rows<8, 16>(plan, in, out, rows);
}

#if A2D_HAVE_V4
A2D_TARGET_V4
inline void fft_rows16(const FftPlan& plan, const float* in, float* out, int64_t rows) {
  fft_rows<16, 32>(plan, in, out, rows);
}
#endif

inline void fft_cpu(const float* in, float* out, int64_t rows, int n, int lanes) {
  const FftPlan plan(n);
#if A2D_HAVE_V4
  if (resolve_lanes(lanes) == 16) return fft_rows16(plan, in, out, rows);
#else
  resolve_lanes(lanes);
#endif
  fft_rows8(plan, in, out, rows);
}

// Full driver. audio: (signals, length) float32; out: (signals, n_mels, frames) float32.
// lanes: 0 (the widest this CPU runs) or one of simd_lane_options().
// Returns false if any output value is not finite (NaN/inf audio); out is then unspecified.
inline bool mel_spectrogram_cpu(const MelParams& p, const float* window, const MelFilters& filters,
                                const float* audio, int64_t signals, float* out, int num_threads,
                                int lanes = 0) {
  const MelPlan& mp = mel_plan(p.n_fft);
#if A2D_HAVE_V4
  if (resolve_lanes(lanes) == 16) {
    return mel_blocks<16>(p, mp, window, filters, audio, signals, out, num_threads, mel_block16);
  }
#else
  resolve_lanes(lanes);
#endif
  return mel_blocks<8>(p, mp, window, filters, audio, signals, out, num_threads, mel_block8);
}

}  // namespace a2d
