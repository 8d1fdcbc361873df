// Mixed-radix complex FFT (Stockham autosort, any length) vectorised across L independent
// signals: data is structure-of-arrays, element i of lane l at re[i * L + l], im[i * L + l].
// Lanes are consecutive frames, so every butterfly is a plain loop over L that the compiler turns
// into SIMD, whatever the radix (the reference n_fft 1102 = 2 x 19 x 29 has no fast power-of-two
// path). Odd radices use the symmetric real-coefficient DFT (about R^2 real multiply-adds).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

namespace a2d {

// Radices of n: fours, a two, then odd primes ascending.
inline std::vector<int> fft_radices(int n) {
  std::vector<int> out;
  while (n % 4 == 0) out.push_back(4), n /= 4;
  while (n % 2 == 0) out.push_back(2), n /= 2;
  for (int p = 3; n > 1; p += 2) {
    while (n % p == 0) out.push_back(p), n /= p;
  }
  return out;
}

class FftPlan {
 public:
  struct Pass {
    int radix;
    int ns;                     // product of the radices before this pass
    std::vector<float> tw_re;   // e^{-2 pi i (j mod ns) r / (ns R)}, index (j mod ns) * R + r
    std::vector<float> tw_im;
    std::vector<float> cos_t;   // cos(2 pi k r / R), index k * R + r (odd radices)
    std::vector<float> sin_t;
  };

  explicit FftPlan(int n) : n_(n) {
    int ns = 1;
    for (int radix : fft_radices(n)) {
      Pass p{radix, ns, {}, {}, {}, {}};
      p.tw_re.resize(static_cast<size_t>(ns) * radix);
      p.tw_im.resize(p.tw_re.size());
      for (int j = 0; j < ns; ++j) {
        for (int r = 0; r < radix; ++r) {
          const double a = -2.0 * M_PI * j * r / (static_cast<double>(ns) * radix);
          p.tw_re[j * radix + r] = static_cast<float>(std::cos(a));
          p.tw_im[j * radix + r] = static_cast<float>(std::sin(a));
        }
      }
      if (radix % 2 == 1) {
        p.cos_t.resize(static_cast<size_t>(radix) * radix);
        p.sin_t.resize(p.cos_t.size());
        for (int k = 0; k < radix; ++k) {
          for (int r = 0; r < radix; ++r) {
            const double a = 2.0 * M_PI * ((k * r) % radix) / radix;
            p.cos_t[k * radix + r] = static_cast<float>(std::cos(a));
            p.sin_t[k * radix + r] = static_cast<float>(std::sin(a));
          }
        }
      }
      max_radix_ = std::max(max_radix_, radix);
      passes_.push_back(std::move(p));
      ns *= radix;
    }
  }

  int size() const { return n_; }
  int max_radix() const { return max_radix_; }
  const std::vector<Pass>& passes() const { return passes_; }

 private:
  int n_;
  int max_radix_ = 1;
  std::vector<Pass> passes_;
};

// Eight float lanes as one value (GCC/Clang vector extension: AVX2 register or two SSE registers).
// Element alignment only, so vectors can live at any float offset of a scratch buffer.
typedef float lanes8 __attribute__((vector_size(32), aligned(4)));
typedef int32_t ilanes8 __attribute__((vector_size(32), aligned(4)));
constexpr int kLanes = 8;

// Natural log of 8 positive, normal, finite floats (Cephes logf: about 1 ulp), vectorised.
inline lanes8 log_lanes(lanes8 x) {
  const ilanes8 bits = reinterpret_cast<ilanes8&>(x);
  ilanes8 e = ((bits >> 23) & 0xff) - 127;
  ilanes8 mbits = (bits & 0x7fffff) | 0x3f800000;
  lanes8 m = reinterpret_cast<lanes8&>(mbits);  // [1, 2)
  const ilanes8 big = m > 1.41421356f;        // -1 where m > sqrt(2)
  m = big ? m * 0.5f : m;
  e -= big;
  const lanes8 z = m - 1.0f;
  const lanes8 z2 = z * z;
  lanes8 y = 7.0376836292E-2f * z - 1.1514610310E-1f;
  y = y * z + 1.1676998740E-1f;
  y = y * z - 1.2420140846E-1f;
  y = y * z + 1.4249322787E-1f;
  y = y * z - 1.6668057665E-1f;
  y = y * z + 2.0000714765E-1f;
  y = y * z - 2.4999993993E-1f;
  y = y * z + 3.3333331174E-1f;
  y = y * z * z2 - 0.5f * z2;
  const lanes8 ef = __builtin_convertvector(e, lanes8);
  return z + y + ef * 0.693147180559945f;
}

// Forward FFT of kLanes lanes. re/im hold the input (n vectors each, overwritten); wre/wim are
// work space of the same size; v is scratch of 16 vectors (radix 2 and 4 butterflies). Returns true when the result ended in
// wre/wim (the buffers swap once per pass).
inline bool fft_forward(const FftPlan& plan, lanes8* __restrict re, lanes8* __restrict im,
                        lanes8* __restrict wre, lanes8* __restrict wim, lanes8* __restrict v) {
  const int n = plan.size();
  lanes8* sr = re;
  lanes8* si = im;
  lanes8* dr = wre;
  lanes8* di = wim;
  bool swapped = false;
  for (const FftPlan::Pass& p : plan.passes()) {
    const int R = p.radix;
    const int ns = p.ns;
    const int stride = n / R;
    lanes8* __restrict vr = v;
    lanes8* __restrict vi = v + R;
    lanes8* __restrict yr = v + 2 * R;
    lanes8* __restrict yi = v + 3 * R;
    for (int j = 0; j < stride; ++j) {
      const int jm = j % ns;
      const int base = (j / ns) * ns * R + jm;  // output r goes to base + r * ns (autosorted)
      const float* twr = &p.tw_re[jm * R];
      const float* twi = &p.tw_im[jm * R];
      if (R % 2 == 1) {
        // Odd R, on the twiddled inputs gathered into v, outputs straight to their slots:
        // y[k] = A - iB, y[R-k] = A + iB with A = v0 + sum (v_r + v_{R-r}) cos,
        // B = sum (v_r - v_{R-r}) sin, r = 1 .. (R-1)/2.
        lanes8* __restrict xr = vr;  // the group's inputs, gathered contiguously
        lanes8* __restrict xi = vi;
        const int h = (R - 1) / 2;
        constexpr int stride_v = 1;
        if (ns > 1) {
          for (int r = 0; r < R; ++r) {
            const lanes8 a_ = sr[j + r * stride], b_ = si[j + r * stride];
            xr[r] = a_ * twr[r] - b_ * twi[r];
            xi[r] = a_ * twi[r] + b_ * twr[r];
          }
        } else {
          for (int r = 0; r < R; ++r) {
            xr[r] = sr[j + r * stride];
            xi[r] = si[j + r * stride];
          }
        }
        lanes8 y0r = xr[0], y0i = xi[0];
        for (int r = 1; r <= h; ++r) {  // sums overwrite v[r], differences v[R - r]
          const lanes8 pr = xr[r * stride_v], pi = xi[r * stride_v];
          const lanes8 qr = xr[(R - r) * stride_v], qi = xi[(R - r) * stride_v];
          xr[r * stride_v] = pr + qr;
          xi[r * stride_v] = pi + qi;
          xr[(R - r) * stride_v] = pr - qr;
          xi[(R - r) * stride_v] = pi - qi;
          y0r += pr + qr;
          y0i += pi + qi;
        }
        int k = 1;
        for (; k + 1 <= h; k += 2) {  // two outputs pairs per sweep: more work per load
          lanes8 ar = xr[0], ai = xi[0], ar2 = xr[0], ai2 = xi[0];
          lanes8 br = {}, bi = {}, br2 = {}, bi2 = {};
          const float* ck = &p.cos_t[k * R];
          const float* sk = &p.sin_t[k * R];
          const float* ck2 = ck + R;
          const float* sk2 = sk + R;
          for (int r = 1; r <= h; ++r) {
            const lanes8 s_r = xr[r * stride_v], s_i = xi[r * stride_v];
            const lanes8 d_r = xr[(R - r) * stride_v], d_i = xi[(R - r) * stride_v];
            ar += s_r * ck[r];
            ai += s_i * ck[r];
            br += d_r * sk[r];
            bi += d_i * sk[r];
            ar2 += s_r * ck2[r];
            ai2 += s_i * ck2[r];
            br2 += d_r * sk2[r];
            bi2 += d_i * sk2[r];
          }
          // -iB = (B.im, -B.re)
          dr[base + k * ns] = ar + bi;
          di[base + k * ns] = ai - br;
          dr[base + (R - k) * ns] = ar - bi;
          di[base + (R - k) * ns] = ai + br;
          dr[base + (k + 1) * ns] = ar2 + bi2;
          di[base + (k + 1) * ns] = ai2 - br2;
          dr[base + (R - k - 1) * ns] = ar2 - bi2;
          di[base + (R - k - 1) * ns] = ai2 + br2;
        }
        for (; k <= h; ++k) {
          lanes8 ar = xr[0], ai = xi[0];
          lanes8 br = {}, bi = {};
          const float* ck = &p.cos_t[k * R];
          const float* sk = &p.sin_t[k * R];
          for (int r = 1; r <= h; ++r) {
            ar += xr[r * stride_v] * ck[r];
            ai += xi[r * stride_v] * ck[r];
            br += xr[(R - r) * stride_v] * sk[r];
            bi += xi[(R - r) * stride_v] * sk[r];
          }
          dr[base + k * ns] = ar + bi;
          di[base + k * ns] = ai - br;
          dr[base + (R - k) * ns] = ar - bi;
          di[base + (R - k) * ns] = ai + br;
        }
        dr[base] = y0r;
        di[base] = y0i;
        continue;
      }
      // Radix 2 and 4: load and twiddle into v, butterfly into y, store.
      for (int r = 0; r < R; ++r) {
        const lanes8 a_ = sr[j + r * stride];
        const lanes8 b_ = si[j + r * stride];
        vr[r] = a_ * twr[r] - b_ * twi[r];
        vi[r] = a_ * twi[r] + b_ * twr[r];
      }
      if (R == 2) {
        yr[0] = vr[0] + vr[1];
        yi[0] = vi[0] + vi[1];
        yr[1] = vr[0] - vr[1];
        yi[1] = vi[0] - vi[1];
      } else {
        const lanes8 ar = vr[0] + vr[2], ai = vi[0] + vi[2];
        const lanes8 br = vr[0] - vr[2], bi = vi[0] - vi[2];
        const lanes8 cr = vr[1] + vr[3], ci = vi[1] + vi[3];
        const lanes8 dr2 = vr[1] - vr[3], di2 = vi[1] - vi[3];
        yr[0] = ar + cr;
        yi[0] = ai + ci;
        yr[2] = ar - cr;
        yi[2] = ai - ci;
        // y1 = b - i d, y3 = b + i d
        yr[1] = br + di2;
        yi[1] = bi - dr2;
        yr[3] = br - di2;
        yi[3] = bi + dr2;
      }
      for (int r = 0; r < R; ++r) {
        dr[base + r * ns] = yr[r];
        di[base + r * ns] = yi[r];
      }
    }
    std::swap(sr, dr);
    std::swap(si, di);
    swapped = !swapped;
  }
  return swapped;
}

}  // namespace a2d
