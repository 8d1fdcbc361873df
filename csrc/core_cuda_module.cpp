// a2d._core_cuda: CUDA twin of a2d._core's log-mel. Tensors stay on the device: Python passes
// raw device pointers (torch's data_ptr()) and the current stream; this file only converts types
// and releases the GIL. Kernels: csrc/cuda/mel_cuda.cu.
#include <cuda_runtime.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "a2d/mel_binding.h"
#include "cuda/mel_cuda.h"

namespace py = pybind11;

#ifndef A2D_VERSION_INFO
#define A2D_VERSION_INFO "dev"
#endif

namespace {

void mel_spectrogram(std::uintptr_t audio, int64_t signals, int64_t length, std::uintptr_t out,
                     std::uintptr_t window, int n_fft, std::uintptr_t twiddle_re,
                     std::uintptr_t twiddle_im, std::uintptr_t start, std::uintptr_t len,
                     std::uintptr_t offset, std::uintptr_t weights, int n_mels, int hop,
                     bool center, const std::string& pad_mode, bool magnitude, bool to_db,
                     py::object ref, float amin, py::object top_db, std::uintptr_t peak,
                     std::uintptr_t bad, std::uintptr_t stream) {
  const a2d::MelParams p = a2d::mel_params(n_fft, hop, n_mels, length, center, pad_mode,
                                           magnitude, to_db, ref, amin, top_db);
  const a2d::MelFilters filters{reinterpret_cast<const int32_t*>(start),
                                reinterpret_cast<const int32_t*>(len),
                                reinterpret_cast<const int32_t*>(offset),
                                reinterpret_cast<const float*>(weights)};
  std::string err;
  {
    py::gil_scoped_release release;
    err = a2d::mel_spectrogram_cuda(
        p, reinterpret_cast<const float*>(audio), signals, reinterpret_cast<float*>(out),
        reinterpret_cast<const float*>(window), reinterpret_cast<const double*>(twiddle_re),
        reinterpret_cast<const double*>(twiddle_im), filters, reinterpret_cast<float*>(peak),
        reinterpret_cast<int32_t*>(bad), stream);
  }
  if (!err.empty()) throw std::runtime_error("CUDA log-mel failed: " + err);
}

// Number of CUDA devices the driver reports; 0 without a driver or GPU (never throws), so
// `a2d --version` can say whether CUDA is usable without importing torch.
int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error
    return 0;
  }
  return n;
}

}  // namespace

PYBIND11_MODULE(_core_cuda, m) {
  m.doc() = "a2d native core (CUDA): batched log-mel on device pointers";
  m.attr("__version__") = A2D_VERSION_INFO;
  m.def("mel_spectrogram", &mel_spectrogram, py::arg("audio"), py::arg("signals"),
        py::arg("length"), py::arg("out"), py::arg("window"), py::arg("n_fft"),
        py::arg("twiddle_re"), py::arg("twiddle_im"), py::arg("start"), py::arg("len"),
        py::arg("offset"), py::arg("weights"), py::arg("n_mels"), py::arg("hop"),
        py::arg("center"), py::arg("pad_mode"), py::arg("magnitude"), py::arg("to_db"),
        py::arg("ref"), py::arg("amin"), py::arg("top_db"), py::arg("peak"), py::arg("bad"),
        py::arg("stream"),
        "Queue the log-mel of device audio (signals, length) into out on `stream`.");
  m.def("device_count", &device_count, "CUDA devices the driver reports (0 if none or no driver).");
}
