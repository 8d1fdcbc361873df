// Log-mel pieces shared by the CPU and CUDA front-ends: padding indices, the settings record, the
// sparse filterbank layout, the dB factor and the dB finish. Per element; the drivers decide the
// order.
#pragma once

#include <cmath>
#include <cstdint>

#include "a2d/common.h"

namespace a2d {

// How a frame reads past the signal's ends (librosa's center padding).
enum class PadMode : int { kConstant = 0, kReflect = 1 };

// Sample index for position `i` of a padded signal of length `t` (numpy.pad "reflect": edge not
// repeated, folded as often as needed); -1 means "zero" (constant padding).
A2D_HD int64_t padded_index(int64_t i, int64_t t, PadMode mode) {
  if (i >= 0 && i < t) return i;
  if (mode == PadMode::kConstant || t == 1) return mode == PadMode::kConstant ? -1 : 0;
  const int64_t period = 2 * (t - 1);
  i %= period;
  if (i < 0) i += period;
  return i < t ? i : period - i;
}

// Settings the drivers pass around (plain data, copyable to the GPU by value).
struct MelParams {
  int n_fft;
  int hop;
  int n_mels;
  int n_bins;      // n_fft / 2 + 1
  int64_t length;  // samples per signal
  int64_t frames;  // frames per signal
  int pad;         // samples of left padding (n_fft / 2 with center, else 0)
  PadMode pad_mode;
  int magnitude;   // 1: power 1 (|X|), 0: power 2 (|X|^2)
  int to_db;
  int ref_is_max;  // ref = per-spectrogram max
  float ref;       // ref value when not ref_is_max
  float amin;
  float top_db;    // < 0: no clipping
};

// Sparse triangular filterbank in compressed rows: band b covers bins [start[b], start[b] + len[b])
// with weights at weights[offset[b] ...].
struct MelFilters {
  const int32_t* start;
  const int32_t* len;
  const int32_t* offset;
  const float* weights;
};

// dB scale factor: 10 for power spectrograms, 20 for magnitude spectrograms.
A2D_HD float db_factor(const MelParams& p) { return p.magnitude ? 20.0f : 10.0f; }

// The last step of to_db for one signal whose values are already factor * log10(max(amin, s)) and
// whose largest value is `peak`: subtract the reference level (the peak, or `ref` in dB) and clip
// at top_db below the peak.
struct DbFinish {
  float ref_db;
  float floor;  // -inf: no clipping
};

A2D_HD DbFinish db_finish(const MelParams& p, float peak) {
  const float ref_db = p.ref_is_max ? peak : db_factor(p) * log10f(p.ref > p.amin ? p.ref : p.amin);
  return {ref_db, p.top_db >= 0.0f ? peak - ref_db - p.top_db : -INFINITY};
}

A2D_HD float finish_db_value(float value, const DbFinish& d) {
  const float v = value - d.ref_db;
  return v < d.floor ? d.floor : v;
}

}  // namespace a2d
