// Host API of the CUDA log-mel kernels (implemented in mel_cuda.cu, bound in core_cuda_module.cpp).
#pragma once

#include <cstdint>
#include <string>

#include "a2d/mel_math.h"

namespace a2d {

// All pointers are device pointers; work is queued on `stream` (a cudaStream_t) and not awaited.
// audio (signals, length) float32; out (signals, n_mels, frames) float32; window (n_fft) float32;
// twiddle_re/im (n_fft) float64 = cos/sin(-2 pi j / n_fft); peak (signals) float32 and
// bad (1) int32 are scratch (bad > 0 after the call when audio had NaN/inf samples).
// Returns an empty string on success, otherwise the CUDA error.
std::string mel_spectrogram_cuda(const MelParams& p, const float* audio, int64_t signals,
                                 float* out, const float* window, const double* twiddle_re,
                                 const double* twiddle_im, const MelFilters& filters, float* peak,
                                 int32_t* bad, std::uintptr_t stream);

}  // namespace a2d
