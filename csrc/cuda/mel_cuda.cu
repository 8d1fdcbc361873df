// CUDA log-mel: one block per (frame, signal) computes the windowed frame's DFT bins directly
// (double accumulation: exact to float32 and simple; the GPU has the flops), then the sparse mel
// product and factor * log10; a per-signal reduction finds the peak and NaN/inf; a last kernel
// applies the reference and top_db clip. Padding, filters and dB math come from a2d/mel_math.h.
#include <cuda_runtime.h>

#include <cmath>

#include "a2d/mel_math.h"
#include "mel_cuda.h"

namespace a2d {
namespace {

constexpr int kThreads = 256;

__global__ void frame_kernel(MelParams p, const float* __restrict__ audio, float* __restrict__ out,
                             const float* __restrict__ window, const double* __restrict__ tw_re,
                             const double* __restrict__ tw_im, MelFilters filters) {
  extern __shared__ float shared[];
  float* frame = shared;            // n_fft windowed samples
  float* power = shared + p.n_fft;  // n_bins power (or magnitude) values
  const int64_t f = blockIdx.x % p.frames;  // one block per (signal, frame), flattened in x
  const int64_t sig = blockIdx.x / p.frames;
  const float* x = audio + sig * p.length;
  const int64_t start = f * p.hop - p.pad;
  for (int i = threadIdx.x; i < p.n_fft; i += blockDim.x) {
    const int64_t idx = padded_index(start + i, p.length, p.pad_mode);
    frame[i] = (idx < 0 ? 0.0f : x[idx]) * window[i];
  }
  __syncthreads();
  for (int k = threadIdx.x; k < p.n_bins; k += blockDim.x) {
    double re = 0.0, im = 0.0;
    int phase = 0;  // k * i mod n_fft, kept exact in integers
    for (int i = 0; i < p.n_fft; ++i) {
      re += frame[i] * tw_re[phase];
      im += frame[i] * tw_im[phase];
      phase += k;
      if (phase >= p.n_fft) phase -= p.n_fft;
    }
    const double pw = re * re + im * im;
    power[k] = static_cast<float>(p.magnitude ? sqrt(pw) : pw);
  }
  __syncthreads();
  float* o = out + sig * static_cast<int64_t>(p.n_mels) * p.frames;
  for (int b = threadIdx.x; b < p.n_mels; b += blockDim.x) {
    float acc = 0.0f;
    const float* w = filters.weights + filters.offset[b];
    for (int k = 0; k < filters.len[b]; ++k) acc += w[k] * power[filters.start[b] + k];
    if (p.to_db && isfinite(acc)) acc = db_factor(p) * log10f(acc > p.amin ? acc : p.amin);
    if (!isfinite(acc)) acc = NAN;  // the peak kernel flags it (the floor would hide a NaN)
    o[b * p.frames + f] = acc;
  }
}

// Per-signal max and NaN/inf detection.
__global__ void peak_kernel(MelParams p, const float* __restrict__ out, float* __restrict__ peak,
                            int32_t* __restrict__ bad) {
  __shared__ float best[kThreads];
  const int64_t n = static_cast<int64_t>(p.n_mels) * p.frames;
  const float* s = out + blockIdx.x * n;
  float m = -INFINITY;
  int nonfinite = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const float v = s[i];
    nonfinite |= !isfinite(v);
    m = v > m ? v : m;
  }
  if (nonfinite) atomicAdd(bad, 1);
  best[threadIdx.x] = m;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half && best[threadIdx.x + half] > best[threadIdx.x]) {
      best[threadIdx.x] = best[threadIdx.x + half];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) peak[blockIdx.x] = best[0];
}

// dB relative to the reference, clipped top_db below the peak.
__global__ void finish_kernel(MelParams p, float* __restrict__ out, const float* __restrict__ peak,
                              int64_t total) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= total) return;
  const int64_t sig = i / (static_cast<int64_t>(p.n_mels) * p.frames);
  out[i] = finish_db_value(out[i], db_finish(p, peak[sig]));
}

}  // namespace

std::string mel_spectrogram_cuda(const MelParams& p, const float* audio, int64_t signals,
                                 float* out, const float* window, const double* twiddle_re,
                                 const double* twiddle_im, const MelFilters& filters, float* peak,
                                 int32_t* bad, std::uintptr_t stream_handle) {
  cudaStream_t stream = reinterpret_cast<cudaStream_t>(stream_handle);
  if (signals == 0) return "";
  cudaMemsetAsync(bad, 0, sizeof(int32_t), stream);
  const unsigned grid = static_cast<unsigned>(signals * p.frames);
  const size_t shared = sizeof(float) * (p.n_fft + p.n_bins);
  frame_kernel<<<grid, kThreads, shared, stream>>>(p, audio, out, window, twiddle_re, twiddle_im,
                                                  filters);
  peak_kernel<<<static_cast<unsigned>(signals), kThreads, 0, stream>>>(p, out, peak, bad);
  if (p.to_db) {
    const int64_t total = signals * p.n_mels * p.frames;
    finish_kernel<<<static_cast<unsigned>((total + kThreads - 1) / kThreads), kThreads, 0, stream>>>(
        p, out, peak, total);
  }
  const cudaError_t err = cudaGetLastError();
  return err == cudaSuccess ? std::string() : std::string(cudaGetErrorString(err));
}

}  // namespace a2d
