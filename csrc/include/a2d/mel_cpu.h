// CPU log-mel driver: frames of one signal are processed L at a time (one SIMD lane per frame)
// through window -> real FFT -> power -> sparse mel product, spread over threads by
// (signal x frame block); then a second pass per signal takes the max and converts to dB.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "a2d/common.h"
#include "a2d/fft.h"
#include "a2d/mel_math.h"
#include "a2d/parallel.h"

namespace a2d {

constexpr int kMelLanes = kLanes;  // frames per SIMD block, one lane per frame

// Per-thread scratch for one block of kMelLanes frames.
struct MelScratch {
  std::vector<float> re, im, wre, wim, v, power;
  MelScratch(int fft_len, int max_radix, int n_bins)
      : re(static_cast<size_t>(fft_len) * kMelLanes),
        im(re.size()),
        wre(re.size()),
        wim(re.size()),
        v(static_cast<size_t>(4) * max_radix * kMelLanes),
        power(static_cast<size_t>(n_bins) * kMelLanes) {}
};

// Mel power (or magnitude) of frames [f0, f0 + L) of one signal, written to out (n_mels, frames).
// `post` holds cos/sin of -2 pi k / n_fft for the real-FFT split (even n_fft only).
// Frame loading with padding (center / reflect) and odd n: one lane at a time.
inline void load_frames_slow(const MelParams& p, const float* window, const float* x, int64_t f0,
                             float* re, float* im) {
  constexpr int L = kMelLanes;
  const int n = p.n_fft;
  const bool even = (n % 2) == 0;
  for (int l = 0; l < L; ++l) {
    const int64_t f = std::min<int64_t>(f0 + l, p.frames - 1);  // tail lanes repeat the last frame
    const int64_t start = f * p.hop - p.pad;
    for (int i = 0; i < n; ++i) {
      const int64_t idx = padded_index(start + i, p.length, p.pad_mode);
      const float value = (idx < 0 ? 0.0f : x[idx]) * window[i];
      if (even) {
        (i % 2 == 0 ? re : im)[(i / 2) * L + l] = value;
      } else {
        re[i * L + l] = value;
        im[i * L + l] = 0.0f;
      }
    }
  }
}

A2D_MULTIVERSION
inline void mel_block(const MelParams& p, const FftPlan& plan, const float* window,
                      const float* post_re, const float* post_im, const MelFilters& filters,
                      const float* x, int64_t f0, float* out, MelScratch& s) {
  constexpr int L = kMelLanes;
  const int n = p.n_fft;
  const bool even = (n % 2) == 0;
  const int m = plan.size();  // n / 2 (even) or n (odd)
  float* re = s.re.data();
  float* im = s.im.data();
  // Load windowed frames: even n packs x[2i] + i x[2i+1] into one complex of length n/2.
  // Fast path (even n, all L frames inside the signal): sample pairs go to lanes as whole vectors.
  const int64_t first = f0 * p.hop - p.pad;
  const int64_t last = std::min<int64_t>(f0 + L - 1, p.frames - 1) * p.hop - p.pad;
  if (even && first >= 0 && last + n <= p.length && f0 + L <= p.frames) {
    const float* xs = x + first;
    const int64_t hop = p.hop;
    for (int i = 0; i < n / 2; ++i) {
      lanes8 a, b;
      for (int l = 0; l < L; ++l) {
        a[l] = xs[l * hop + 2 * i];
        b[l] = xs[l * hop + 2 * i + 1];
      }
      reinterpret_cast<lanes8*>(re)[i] = a * window[2 * i];
      reinterpret_cast<lanes8*>(im)[i] = b * window[2 * i + 1];
    }
  } else {
    load_frames_slow(p, window, x, f0, re, im);
  }
  lanes8* vre = reinterpret_cast<lanes8*>(re);
  lanes8* vim = reinterpret_cast<lanes8*>(im);
  lanes8* wre = reinterpret_cast<lanes8*>(s.wre.data());
  lanes8* wim = reinterpret_cast<lanes8*>(s.wim.data());
  const bool in_work = fft_forward(plan, vre, vim, wre, wim, reinterpret_cast<lanes8*>(s.v.data()));
  const lanes8* zr = in_work ? wre : vre;
  const lanes8* zi = in_work ? wim : vim;
  lanes8* pw = reinterpret_cast<lanes8*>(s.power.data());
  if (even) {
    // X[k] = E + W^k O, E = (Z[k] + conj Z[m-k]) / 2, O = -i (Z[k] - conj Z[m-k]) / 2.
    for (int k = 0; k < p.n_bins; ++k) {
      const int a = k % m;
      const int b = (m - k) % m;
      const float wr = post_re[k];
      const float wi = post_im[k];
      const lanes8 ar = zr[a], ai = zi[a], br = zr[b], bi = -zi[b];
      const lanes8 er = 0.5f * (ar + br), ei = 0.5f * (ai + bi);
      const lanes8 or_ = 0.5f * (ai - bi), oi = -0.5f * (ar - br);
      const lanes8 xr = er + wr * or_ - wi * oi;
      const lanes8 xi = ei + wr * oi + wi * or_;
      pw[k] = xr * xr + xi * xi;
    }
  } else {
    for (int k = 0; k < p.n_bins; ++k) pw[k] = zr[k] * zr[k] + zi[k] * zi[k];
  }
  if (p.magnitude) {
    float* f = s.power.data();
    for (int i = 0; i < p.n_bins * L; ++i) f[i] = std::sqrt(f[i]);
  }
  const int valid = static_cast<int>(std::min<int64_t>(L, p.frames - f0));
  // amin below the smallest normal float needs the exact libm log (subnormals, zero).
  const bool fast_db = p.to_db && p.amin >= 1.17549435e-38f;
  for (int band = 0; band < p.n_mels; ++band) {
    lanes8 acc = {};
    const float* w = filters.weights + filters.offset[band];
    const lanes8* src = pw + filters.start[band];
    for (int k = 0; k < filters.len[band]; ++k) acc += w[k] * src[k];
    if (fast_db) {
      // factor * log10(max(amin, s)); NaN/inf marked NaN so the second pass rejects them.
      const ilanes8 bad = (acc - acc) != 0.0f;
      const lanes8 floored = acc > p.amin ? acc : lanes8{} + p.amin;
      const lanes8 db = log_lanes(floored) * (db_factor(p) * 0.434294481903252f);
      acc = bad ? lanes8{} + NAN : db;
    } else if (p.to_db) {
      for (int l = 0; l < L; ++l) acc[l] = db_factor(p) * std::log10(std::max(acc[l], p.amin));
    }
    float* dst = out + band * p.frames + f0;
    for (int l = 0; l < valid; ++l) dst[l] = acc[l];
  }
}

// FFT plan and real-split twiddles for one n_fft, built once per process and shared by calls.
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

// Full driver. audio: (signals, length) float32; out: (signals, n_mels, frames) float32.
// Returns false if any output value is not finite (NaN/inf audio); out is then unspecified.
inline bool mel_spectrogram_cpu(const MelParams& p, const float* window, const MelFilters& filters,
                                const float* audio, int64_t signals, float* out, int num_threads) {
  const MelPlan& mp = mel_plan(p.n_fft);
  const FftPlan& plan = mp.fft;
  const std::vector<float>& post_re = mp.post_re;
  const std::vector<float>& post_im = mp.post_im;
  const int64_t blocks = (p.frames + kMelLanes - 1) / kMelLanes;
  const int64_t per_signal = static_cast<int64_t>(p.n_mels) * p.frames;
  parallel_for(signals * blocks, num_threads, [&](int, std::atomic<int64_t>& next) {
    MelScratch scratch(plan.size(), plan.max_radix(), p.n_bins);
    for (int64_t u = next++; u < signals * blocks; u = next++) {
      const int64_t sig = u / blocks;
      const int64_t f0 = (u % blocks) * kMelLanes;
      mel_block(p, plan, window, post_re.data(), post_im.data(), filters, audio + sig * p.length,
                f0, out + sig * per_signal, scratch);
    }
  });
  std::atomic<bool> finite{true};
  parallel_for(signals, num_threads, [&](int, std::atomic<int64_t>& next) {
    for (int64_t sig = next++; sig < signals; sig = next++) {
      float* s = out + sig * per_signal;
      float peak = p.to_db ? -INFINITY : 0.0f;
      bool ok = true;
      for (int64_t i = 0; i < per_signal; ++i) {
        ok &= std::isfinite(s[i]);
        peak = s[i] > peak ? s[i] : peak;
      }
      if (!ok) {
        finite = false;
        continue;
      }
      if (!p.to_db) continue;
      // Values are already factor * log10(max(amin, s)); subtract the reference and clip.
      const float ref_db = p.ref_is_max ? peak : db_factor(p) * std::log10(std::max(p.ref, p.amin));
      const float floor = p.top_db >= 0.0f ? peak - ref_db - p.top_db : -INFINITY;
      for (int64_t i = 0; i < per_signal; ++i) {
        const float v = s[i] - ref_db;
        s[i] = v < floor ? floor : v;
      }
    }
  });
  return finite;
}

}  // namespace a2d
