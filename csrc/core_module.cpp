// a2d._core: CPU native kernels. Binding code only checks and converts types and releases the GIL;
// the math lives in headers under csrc/include/a2d/.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <complex>
#include <cstdint>
#include <string>
#include <vector>

#include "a2d/activations.h"
#include "a2d/loudness.h"
#include "a2d/mel_binding.h"
#include "a2d/mel_cpu.h"
#include "a2d/ode.h"
#include "a2d/parallel.h"

namespace py = pybind11;

#ifndef A2D_VERSION_INFO
#define A2D_VERSION_INFO "dev"
#endif

namespace {

// A C-contiguous array of T with `ndim` dimensions, or ValueError naming the argument.
template <class T>
py::array checked(const py::array& a, const char* name, int ndim) {
  if (!py::isinstance<py::array_t<T>>(a) || !(a.flags() & py::array::c_style)) {
    throw py::value_error(std::string(name) + " must be a C-contiguous " +
                          py::str(py::dtype::of<T>()).cast<std::string>() +
                          " array; convert it with numpy.ascontiguousarray");
  }
  if (a.ndim() != ndim) {
    throw py::value_error(std::string(name) + " must have " + std::to_string(ndim) +
                          " dimensions, got " + std::to_string(a.ndim()));
  }
  return a;
}

// lanes: 0 (the widest SIMD kernel this CPU runs) or one of a2d::simd_lane_options().
void check_lanes(int lanes) {
  if (lanes == 0) return;
  for (int o : a2d::simd_lane_options()) {
    if (o == lanes) return;
  }
  throw py::value_error("lanes must be 0 or one of " + py::str(py::cast(a2d::simd_lane_options()))
                                                           .cast<std::string>() +
                        " on this CPU, got " + std::to_string(lanes));
}

// Complex FFT of each row of x (rows, n) complex64 with the mel kernel's own transform (a test
// hook: the transform is otherwise only reachable through the spectrogram).
py::array fft(const py::array& x, int lanes) {
  if (!py::isinstance<py::array_t<std::complex<float>>>(x) || !(x.flags() & py::array::c_style) ||
      x.ndim() != 2) {
    throw py::value_error("x must be a C-contiguous complex64 array of shape (rows, n)");
  }
  if (x.shape(1) < 1) throw py::value_error("x must have at least one column");
  check_lanes(lanes);
  py::array_t<std::complex<float>> out({x.shape(0), x.shape(1)});
  {
    py::gil_scoped_release release;
    a2d::fft_cpu(static_cast<const float*>(x.data()), reinterpret_cast<float*>(out.mutable_data()),
                 x.shape(0), static_cast<int>(x.shape(1)), lanes);
  }
  return out;
}

void mel_spectrogram(const py::array& audio, py::array& out, const py::array& window,
                     const py::array& start, const py::array& len, const py::array& offset,
                     const py::array& weights, int hop, bool center, const std::string& pad_mode,
                     bool magnitude, bool to_db, py::object ref, float amin, py::object top_db,
                     int num_threads, int lanes) {
  checked<float>(audio, "audio", 2);
  checked<float>(out, "out", 3);
  checked<float>(window, "window", 1);
  checked<int32_t>(start, "filter starts", 1);
  checked<int32_t>(len, "filter lengths", 1);
  checked<int32_t>(offset, "filter offsets", 1);
  checked<float>(weights, "filter weights", 1);
  if (!out.writeable()) throw py::value_error("out must be writeable");
  const a2d::MelParams p =
      a2d::mel_params(static_cast<int>(window.shape(0)), hop, static_cast<int>(start.shape(0)),
                      audio.shape(1), center, pad_mode, magnitude, to_db, ref, amin, top_db);
  if (out.shape(0) != audio.shape(0) || out.shape(1) != p.n_mels || out.shape(2) != p.frames) {
    throw py::value_error("out must have shape (signals, n_mels, frames) = (" +
                          std::to_string(audio.shape(0)) + ", " + std::to_string(p.n_mels) + ", " +
                          std::to_string(p.frames) + ")");
  }
  if (len.shape(0) != p.n_mels || offset.shape(0) != p.n_mels) {
    throw py::value_error("filter starts, lengths and offsets must have one entry per mel band");
  }
  const int32_t* s = static_cast<const int32_t*>(start.data());
  const int32_t* l = static_cast<const int32_t*>(len.data());
  const int32_t* o = static_cast<const int32_t*>(offset.data());
  for (int b = 0; b < p.n_mels; ++b) {
    if (s[b] < 0 || l[b] < 0 || s[b] + l[b] > p.n_bins || o[b] < 0 || o[b] + l[b] > weights.shape(0)) {
      throw py::value_error("mel filter " + std::to_string(b) + " is out of range of the FFT bins");
    }
  }
  const a2d::MelFilters filters{s, l, o, static_cast<const float*>(weights.data())};
  check_lanes(lanes);
  bool finite = true;
  {
    py::gil_scoped_release release;
    finite = a2d::mel_spectrogram_cpu(p, static_cast<const float*>(window.data()), filters,
                                      static_cast<const float*>(audio.data()), audio.shape(0),
                                      static_cast<float*>(out.mutable_data()), num_threads, lanes);
  }
  if (!finite) {
    throw py::value_error("audio contains NaN or infinite samples; clean or reject the input");
  }
}

void ode_sample(const py::function& velocity, py::array& x, py::array& xin, py::array& tin,
                const std::string& method, int steps, double t0, double t1,
                py::object guidance_weight, int num_threads) {
  checked<float>(x, "x", 2);
  checked<float>(xin, "xin", 2);
  checked<float>(tin, "tin", 1);
  a2d::OdeMethod m;
  if (!a2d::parse_ode_method(method, &m)) {
    throw py::value_error("method must be one of euler, midpoint, heun, rk4; got '" + method + "'");
  }
  if (steps < 1) throw py::value_error("steps must be >= 1, got " + std::to_string(steps));
  const bool guided = !guidance_weight.is_none();
  const int64_t rows = x.shape(0);
  const int64_t dim = x.shape(1);
  const int64_t call_rows = guided ? 2 * rows : rows;
  if (xin.shape(0) != call_rows || xin.shape(1) != dim || tin.shape(0) != call_rows) {
    throw py::value_error("xin/tin buffers do not match x (internal error)");
  }
  const float weight = guided ? guidance_weight.cast<float>() : 0.0f;
  float* tp = static_cast<float*>(tin.mutable_data());
  py::object result;  // keeps the last velocity output alive while the loop reads it
  auto call = [&](double t) -> const float* {
    for (int64_t r = 0; r < call_rows; ++r) tp[r] = static_cast<float>(t);
    result = velocity();
    py::array v = checked<float>(py::reinterpret_borrow<py::array>(result), "velocity output", 2);
    if (v.shape(0) != call_rows || v.shape(1) != dim) {
      throw py::value_error("velocity returned shape (" + std::to_string(v.shape(0)) + ", " +
                            std::to_string(v.shape(1)) + "), expected (" +
                            std::to_string(call_rows) + ", " + std::to_string(dim) + ")");
    }
    return static_cast<const float*>(v.data());
  };
  a2d::ode_sample_cpu(static_cast<float*>(x.mutable_data()), static_cast<float*>(xin.mutable_data()),
                      rows, dim, m, steps, t0, t1, guided, weight,
                      num_threads > 0 ? num_threads : a2d::default_num_threads(), call);
}

// K-weighted block energies for BS.1770 loudness (a2d/loudness.py does the gating).
py::array k_weighted_block_energy(const py::array& audio, const py::array& sos, const py::array& lo,
                                  const py::array& hi, int num_threads, int lanes, int64_t warmup) {
  checked<float>(audio, "audio", 2);
  checked<double>(sos, "sos", 2);
  checked<int64_t>(lo, "lo", 1);
  checked<int64_t>(hi, "hi", 1);
  const int n_stages = static_cast<int>(sos.shape(0));
  if (sos.shape(1) != 6 || n_stages < 1 || n_stages > a2d::kMaxBiquads) {
    throw py::value_error("sos must have shape (stages, 6) with 1 to " +
                          std::to_string(a2d::kMaxBiquads) + " stages");
  }
  const int64_t blocks = lo.shape(0);
  const int64_t length = audio.shape(1);
  if (hi.shape(0) != blocks) throw py::value_error("lo and hi must have the same length");
  if (lanes < 1 || lanes > 64 || warmup < 0) {
    throw py::value_error("lanes must be 1 to 64 and warmup >= 0");
  }
  const int64_t* l = static_cast<const int64_t*>(lo.data());
  const int64_t* h = static_cast<const int64_t*>(hi.data());
  for (int64_t j = 0; j < blocks; ++j) {
    if (l[j] < 0 || l[j] > h[j] || h[j] > length) {
      throw py::value_error("block " + std::to_string(j) + " is not inside the audio");
    }
  }
  const double* c = static_cast<const double*>(sos.data());
  std::vector<a2d::Biquad> stages(n_stages);
  for (int k = 0; k < n_stages; ++k) {
    const double* r = c + 6 * k;
    if (r[3] != 1.0) throw py::value_error("sos rows must be normalised (a0 == 1)");
    stages[k] = {r[0], r[1], r[2], r[4], r[5]};
  }
  py::array_t<double> out({audio.shape(0), blocks});
  {
    py::gil_scoped_release release;
    a2d::k_weighted_block_energy_cpu(static_cast<const float*>(audio.data()), audio.shape(0),
                                     length, stages.data(), n_stages, l, h, blocks,
                                     out.mutable_data(), num_threads, lanes, warmup);
  }
  return out;
}

// Exact (erf) GELU of a float32 array of any shape, into a new array; GIL released.
py::array gelu(const py::array& x) {
  if (!py::isinstance<py::array_t<float>>(x) || !(x.flags() & py::array::c_style)) {
    throw py::value_error("x must be a C-contiguous float32 array; convert it with "
                          "numpy.ascontiguousarray(x, dtype=numpy.float32)");
  }
  std::vector<py::ssize_t> shape(x.shape(), x.shape() + x.ndim());
  py::array_t<float> out(shape);
  const int64_t n = static_cast<int64_t>(x.size());
  {
    py::gil_scoped_release release;
    a2d::gelu_cpu(static_cast<const float*>(x.data()), out.mutable_data(), n);
  }
  return out;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "a2d native core (CPU): batched log-mel spectrogram, BS.1770 K-weighted block energies and "
          "the flow ODE sampling loop";
  m.attr("__version__") = A2D_VERSION_INFO;
  m.def("default_num_threads", &a2d::default_num_threads, "Hardware concurrency (>= 1).");
  m.def("mel_spectrogram", &mel_spectrogram, py::arg("audio"), py::arg("out"), py::arg("window"),
        py::arg("start"), py::arg("len"), py::arg("offset"), py::arg("weights"), py::arg("hop"),
        py::arg("center"), py::arg("pad_mode"), py::arg("magnitude"), py::arg("to_db"),
        py::arg("ref"), py::arg("amin"), py::arg("top_db"), py::arg("num_threads"),
        py::arg("lanes") = 0,
        "Log-mel of audio (signals, T) float32 into out (signals, n_mels, frames); GIL released. "
        "lanes: SIMD width (frames per vector) to use, 0 for the widest this CPU runs.");
  m.def("k_weighted_block_energy", &k_weighted_block_energy, py::arg("audio"), py::arg("sos"),
        py::arg("lo"), py::arg("hi"), py::arg("num_threads") = 0, py::arg("lanes") = 1,
        py::arg("warmup") = 0,
        "Sum of squares of each signal of audio (signals, T) float32, filtered by the biquad "
        "cascade sos (stages, 6) float64 (b0 b1 b2 1 a1 a2), over each block [lo[j], hi[j]): "
        "(signals, blocks) float64; GIL released. lanes > 1 splits each signal into that many "
        "segments filtered as interleaved recursions, each after `warmup` samples of overlap "
        "from a zero state (equal to one pass to within rounding when warmup covers the "
        "filter's memory; signals shorter than lanes x warmup get one pass).");
  m.def("simd_lanes", &a2d::simd_lane_options,
        "The SIMD widths (frames per vector) the mel kernel can use on this CPU, widest first.");
  m.def("_fft", &fft, py::arg("x"), py::arg("lanes") = 0,
        "Test hook: complex FFT of each row of x (rows, n) complex64 with the mel kernel's FFT.");
  m.def("gelu", &gelu, py::arg("x"),
        "Exact GELU 0.5 x (1 + erf(x / sqrt 2)) of a float32 array, as a new array; GIL released.");
  m.def("ode_sample", &ode_sample, py::arg("velocity"), py::arg("x"), py::arg("xin"),
        py::arg("tin"), py::arg("method"), py::arg("steps"), py::arg("t0"), py::arg("t1"),
        py::arg("guidance_weight"), py::arg("num_threads") = 0,
        "Integrate x (rows, dim) in place; velocity() reads xin/tin and returns (rows', dim).");
}
