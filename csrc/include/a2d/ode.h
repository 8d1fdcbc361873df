// Explicit Runge-Kutta tableaus (Euler, midpoint, Heun, RK4) and the CPU sampling loop of the flow
// ODE dx/dt = v(x, t). The velocity comes from a callback (the network, in Python); with classifier-
// free guidance the callback sees the stacked batch [x; x] and v = (1 - w) v_uncond + w v_cond.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "a2d/common.h"
#include "a2d/parallel.h"

namespace a2d {

enum class OdeMethod : int { kEuler = 0, kMidpoint = 1, kHeun = 2, kRk4 = 3 };

// Butcher tableau of an explicit method with at most four stages.
struct Tableau {
  int stages;
  float a[4][4];  // a[s][j]: weight of k_j in the input of stage s (j < s)
  float b[4];     // weights of the final update
  float c[4];     // stage times as fractions of the step
};

A2D_HD Tableau tableau(OdeMethod method) {
  switch (method) {
    case OdeMethod::kEuler:
      return {1, {{0}}, {1.0f}, {0.0f}};
    case OdeMethod::kMidpoint:
      return {2, {{0}, {0.5f}}, {0.0f, 1.0f}, {0.0f, 0.5f}};
    case OdeMethod::kHeun:
      return {2, {{0}, {1.0f}}, {0.5f, 0.5f}, {0.0f, 1.0f}};
    case OdeMethod::kRk4:
    default:
      return {4,
              {{0}, {0.5f}, {0.0f, 0.5f}, {0.0f, 0.0f, 1.0f}},
              {1.0f / 6.0f, 1.0f / 3.0f, 1.0f / 3.0f, 1.0f / 6.0f},
              {0.0f, 0.5f, 0.5f, 1.0f}};
  }
}

inline bool parse_ode_method(const std::string& name, OdeMethod* out) {
  static const char* names[] = {"euler", "midpoint", "heun", "rk4"};
  for (int i = 0; i < 4; ++i) {
    if (name == names[i]) {
      *out = static_cast<OdeMethod>(i);
      return true;
    }
  }
  return false;
}

// Time of stage s of step i on the uniform grid t0 -> t1 (computed in double, as the reference).
A2D_HD double stage_time(double t0, double t1, int steps, int i, float c) {
  return t0 + (static_cast<double>(i) + static_cast<double>(c)) * ((t1 - t0) / steps);
}

// body(begin, end) over [0, n) in chunks: split over threads only when n is large enough that the
// thread start (tens of microseconds) is small against the memory traffic.
template <class Body>
void for_range(int64_t n, int num_threads, Body&& body) {
  constexpr int64_t kMinPerThread = 1 << 16;
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(num_threads, n / kMinPerThread));
  if (chunks == 1) return body(int64_t{0}, n);
  parallel_for(chunks, static_cast<int>(chunks), [&](int, std::atomic<int64_t>& next) {
    for (int64_t c = next++; c < chunks; c = next++) body(c * n / chunks, (c + 1) * n / chunks);
  });
}

// Integrates x (rows, dim) in place. `xin` (rows or 2 * rows, dim) is the buffer the callback
// reads; velocity(t) evaluates the network on xin at time t and returns a pointer to its
// (rows or 2 * rows, dim) output, valid until the next call.
template <class Velocity>
void ode_sample_cpu(float* x, float* xin, int64_t rows, int64_t dim, OdeMethod method, int steps,
                    double t0, double t1, bool guided, float weight, int num_threads,
                    Velocity&& velocity) {
  const Tableau tab = tableau(method);
  const int64_t n = rows * dim;
  const float h = static_cast<float>((t1 - t0) / steps);
  std::vector<float> k(static_cast<size_t>(tab.stages) * n);
  for (int i = 0; i < steps; ++i) {
    for (int s = 0; s < tab.stages; ++s) {
      // Stage input x + h sum_j a[s][j] k_j, duplicated for the unconditional half.
      for_range(n, num_threads, [&](int64_t lo, int64_t hi) {
        for (int64_t e = lo; e < hi; ++e) {
          float value = x[e];
          for (int j = 0; j < s; ++j) {
            const float coef = h * tab.a[s][j];
            if (coef != 0.0f) value += coef * k[j * n + e];
          }
          xin[e] = value;
          if (guided) xin[n + e] = value;
        }
      });
      const float* v = velocity(stage_time(t0, t1, steps, i, tab.c[s]));
      float* ks = k.data() + s * n;
      const float wu = 1.0f - weight;
      for_range(n, num_threads, [&](int64_t lo, int64_t hi) {
        if (guided) {
          for (int64_t e = lo; e < hi; ++e) ks[e] = wu * v[n + e] + weight * v[e];
        } else {
          std::memcpy(ks + lo, v + lo, sizeof(float) * (hi - lo));
        }
      });
    }
    for_range(n, num_threads, [&](int64_t lo, int64_t hi) {
      for (int s = 0; s < tab.stages; ++s) {
        const float coef = h * tab.b[s];
        if (coef == 0.0f) continue;
        const float* ks = k.data() + s * n;
        for (int64_t e = lo; e < hi; ++e) x[e] += coef * ks[e];
      }
    });
  }
}

}  // namespace a2d
