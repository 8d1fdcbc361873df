// a2d._core: CPU native kernels. Binding code only converts types and releases the GIL; the math
// lives in headers under csrc/include/a2d/.
#include <pybind11/pybind11.h>

namespace py = pybind11;

#ifndef A2D_VERSION_INFO
#define A2D_VERSION_INFO "dev"
#endif

PYBIND11_MODULE(_core, m) {
  m.doc() = "a2d native core (CPU)";
  m.attr("__version__") = A2D_VERSION_INFO;
}
