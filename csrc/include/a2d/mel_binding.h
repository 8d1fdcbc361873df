// The log-mel settings of a binding call, built and checked once for the CPU (a2d._core) and CUDA
// (a2d._core_cuda) front-ends: a bad value is a ValueError naming it. Host code with pybind11.
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "a2d/mel_math.h"

namespace a2d {

inline MelParams mel_params(int n_fft, int hop, int n_mels, int64_t length, bool center,
                            const std::string& pad_mode, bool magnitude, bool to_db,
                            const pybind11::object& ref, float amin,
                            const pybind11::object& top_db) {
  MelParams p{};
  p.n_fft = n_fft;
  p.hop = hop;
  p.n_mels = n_mels;
  p.n_bins = n_fft / 2 + 1;
  p.length = length;
  p.pad = center ? n_fft / 2 : 0;
  if (pad_mode != "constant" && pad_mode != "reflect") {
    throw pybind11::value_error("pad_mode must be 'constant' or 'reflect', got '" + pad_mode +
                                "'");
  }
  p.pad_mode = pad_mode == "reflect" ? PadMode::kReflect : PadMode::kConstant;
  if (n_fft < 2 || hop < 1 || length + 2 * p.pad < n_fft) {
    throw pybind11::value_error("audio of " + std::to_string(length) +
                                " samples is shorter than n_fft " + std::to_string(n_fft) +
                                "; pass longer audio or use center=True");
  }
  p.frames = (length + 2 * p.pad - n_fft) / hop + 1;
  p.magnitude = magnitude ? 1 : 0;
  p.to_db = to_db ? 1 : 0;
  p.ref_is_max = ref.is_none() ? 1 : 0;
  p.ref = ref.is_none() ? 0.0f : ref.cast<float>();
  p.amin = amin;
  p.top_db = top_db.is_none() ? -1.0f : top_db.cast<float>();
  return p;
}

}  // namespace a2d
