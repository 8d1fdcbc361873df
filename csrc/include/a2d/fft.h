// Complex FFT of any length, vectorised across L independent signals: data is structure-of-arrays
// of lane vectors, element i of lane l at re[i][l], im[i][l]. Lanes are consecutive frames, so
// every butterfly is plain arithmetic on lane vectors, whatever the radix (the reference n_fft
// 1102 = 2 x 19 x 29 has no fast power-of-two path).
//
// Two plans:
//  * Prime-factor (Good-Thomas) when the length is a product of pairwise coprime factors that each
//    have a direct kernel (2, 4 or an odd prime), e.g. 551 = 19 x 29 or 1023 = 3 x 11 x 31. With
//    n = N_1 ... N_d and M_i = n / N_i, the input index map x[sum a_i M_i mod n] and the output map
//    X[sum a_i M_i (M_i^-1 mod N_i) mod n] turn the 1-D DFT into a d-dimensional one with no
//    twiddle factors between the dimensions: each pass is a set of independent length-N_i DFTs.
//    The input map is folded into where the caller stores the input (in_pos), the output map
//    into where the last pass writes (natural order out), so they cost no extra pass.
//  * Otherwise mixed-radix Stockham autosort (fours, a two, then odd primes), natural order in
//    and out, ping-ponging between two buffers.
// Odd radices use the symmetric real-coefficient DFT: with s_r = x_r + x_{R-r} and
// d_r = x_r - x_{R-r}, y_k = A_k - i B_k and y_{R-k} = A_k + i B_k for
// A_k = x_0 + sum_r s_r cos(2 pi k r / R) and B_k = sum_r d_r sin(2 pi k r / R), r, k = 1 .. h,
// h = (R-1)/2: about R^2 real multiply-adds per lane; 3/4 of that for primes with h even on
// AVX-512 (the split kernel, see OddTables).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <utility>
#include <vector>

#include "a2d/simd.h"

namespace a2d {

// Radices of n for the Stockham plan: fours, a two, then odd primes ascending.
inline std::vector<int> fft_radices(int n) {
  std::vector<int> out;
  while (n % 4 == 0) out.push_back(4), n /= 4;
  while (n % 2 == 0) out.push_back(2), n /= 2;
  for (int p = 3; n > 1; p += 2) {
    while (n % p == 0) out.push_back(p), n /= p;
  }
  return out;
}

// Prime-power factors of n (pairwise coprime), ascending by prime.
inline std::vector<int> coprime_factors(int n) {
  std::vector<int> out;
  for (int p = 2; n > 1; ++p) {
    if (n % p != 0) continue;
    int q = 1;
    while (n % p == 0) q *= p, n /= p;
    out.push_back(q);
  }
  return out;
}

inline bool is_odd_prime(int r) {
  if (r < 3 || r % 2 == 0) return false;
  for (int d = 3; d * d <= r; d += 2) {
    if (r % d == 0) return false;
  }
  return true;
}

// Smallest generator of the multiplicative group mod prime p.
inline int primitive_root(int p) {
  for (int g = 2; g < p; ++g) {
    int64_t x = 1;
    int order = 0;
    do {
      x = x * g % p;
      ++order;
    } while (x != 1);
    if (order == p - 1) return g;
  }
  return 1;  // p = 2
}

// Tables of the odd-radix kernels.
// Direct kernel: cos/sin(2 pi k r / R) for k, r = 1 .. h, h = (R-1)/2, row k - 1.
// Split kernel (prime R with h even, e.g. 29): Rader's reordering by a generator g, outputs
// rho_a = g^a and inputs r_b = g^-b (a, b < h; together with their negatives they cover every
// nonzero index), turns the two h x h matrices of the symmetric DFT into
//   C[a][b] = cos(2 pi g^(a-b) / R),  S[a][b] = sin(2 pi g^(a-b) / R),
// which depend on a - b only, and since g^(j+h) = -g^j: C[a+H][b+H] = C[a][b] and
// C[a+H][b] = C[a][b+H] (H = h / 2), while S[a+H][b+H] = S[a][b], S[a][b+H] = -S[a+H][b]. In
// H x H blocks, C = [[C1, C2], [C2, C1]] and S = [[S1, -S2], [S2, S1]], so with u = s in that
// order (top half t, bottom half b):
//   C u = [P + M; P - M],  P = (C1 + C2)/2 (u_t + u_b),  M = (C1 - C2)/2 (u_t - u_b)
//   S w = [S1 w_t - S2 w_b; S2 w_t + S1 w_b]
// i.e. six H x H products, 3/4 of the multiply-adds of the direct kernel. (Karatsuba would make
// S w three products, 5/8 in all, but its Q3 - Q1 - Q2 cancels: measured 1.5x the power error on
// tonal audio, so no.) The input signs of d_r and the output pairs k, R - k follow from the
// residues: w_b = x[r_b] - x[R - r_b] and y[rho] = A - iB, y[R - rho] = A + iB.
struct OddTables {
  int radix = 0;
  int h = 0;
  std::vector<float> cos_t, sin_t;
  // Split kernel (empty unless used): H, input residues r_b, output residues rho_a (b, a < h),
  // and the H x H matrices (C1 + C2)/2, (C1 - C2)/2, S1, S2, row-major.
  int split_h = 0;
  std::vector<int32_t> in_r, out_rho;
  std::vector<float> cp, cm, s1, s2;
  OddTables() = default;
  explicit OddTables(int r, bool allow_split = true) : radix(r), h((r - 1) / 2) {
    cos_t.resize(static_cast<size_t>(h) * h);
    sin_t.resize(cos_t.size());
    for (int k = 1; k <= h; ++k) {
      for (int j = 1; j <= h; ++j) {
        const double a = 2.0 * M_PI * ((static_cast<int64_t>(k) * j) % r) / r;
        cos_t[(k - 1) * h + j - 1] = static_cast<float>(std::cos(a));
        sin_t[(k - 1) * h + j - 1] = static_cast<float>(std::sin(a));
      }
    }
    if (allow_split && h >= 2 && h % 2 == 0 && is_odd_prime(r)) build_split();
  }

 private:
  void build_split() {
    const int R = radix, H = h / 2;
    const int g = primitive_root(R);
    int64_t g_inv = 1;
    while (g_inv * g % R != 1) ++g_inv;
    in_r.resize(h);
    out_rho.resize(h);
    int64_t rho = 1, rr = 1;
    for (int j = 0; j < h; ++j) {
      out_rho[j] = static_cast<int32_t>(rho);
      in_r[j] = static_cast<int32_t>(rr);
      rho = rho * g % R;
      rr = rr * g_inv % R;
    }
    auto angle = [&](int a, int b) { return 2.0 * M_PI * (int64_t{out_rho[a]} * in_r[b] % R) / R; };
    auto C = [&](int a, int b) { return std::cos(angle(a, b)); };
    auto S = [&](int a, int b) { return std::sin(angle(a, b)); };
    for (int a = 0; a < H; ++a) {  // the block structure, checked rather than assumed
      for (int b = 0; b < H; ++b) {
        if (std::abs(C(a + H, b + H) - C(a, b)) > 1e-9 ||
            std::abs(C(a + H, b) - C(a, b + H)) > 1e-9 ||
            std::abs(S(a + H, b + H) - S(a, b)) > 1e-9 ||
            std::abs(S(a, b + H) + S(a + H, b)) > 1e-9) {
          in_r.clear();
          out_rho.clear();
          return;
        }
      }
    }
    split_h = H;
    for (int a = 0; a < H; ++a) {
      for (int b = 0; b < H; ++b) {
        cp.push_back(static_cast<float>((C(a, b) + C(a, b + H)) / 2));
        cm.push_back(static_cast<float>((C(a, b) - C(a, b + H)) / 2));
        s1.push_back(static_cast<float>(S(a, b)));
        s2.push_back(static_cast<float>(S(a + H, b)));
      }
    }
  }
};

class FftPlan {
 public:
  // Stockham pass.
  struct Pass {
    int radix;
    int ns;                    // product of the radices before this pass
    std::vector<float> tw_re;  // e^{-2 pi i (j mod ns) r / (ns R)}, index (j mod ns) * R + r
    std::vector<float> tw_im;
    OddTables odd;
  };
  // Prime-factor pass: length-`radix` DFTs along one dimension of the row-major array; line
  // (o, i) starts at o * radix * stride + i, o < outer, i < stride, and steps by stride.
  struct Dim {
    int radix;
    int stride;
    int outer;
    OddTables odd;
  };

  explicit FftPlan(int n) : n_(n) {
    const std::vector<int> f = coprime_factors(n);
    pfa_ = f.size() >= 2 && std::all_of(f.begin(), f.end(), [](int q) {
             return q == 2 || q == 4 || is_odd_prime(q);
           });
    if (pfa_) {
      build_pfa(f);
    } else {
      build_stockham();
    }
    scratch_vectors_ = 2 * max_radix_;
  }

  int size() const { return n_; }
  bool prime_factor() const { return pfa_; }
  // Lane vectors of scratch the transform needs besides the data and work buffers.
  int scratch_vectors() const { return scratch_vectors_; }
  const std::vector<Pass>& passes() const { return passes_; }
  const std::vector<Dim>& dims() const { return dims_; }
  // Where input element i must be stored (identity for Stockham). The output is in natural order.
  const std::vector<int32_t>& in_pos() const { return in_pos_; }
  // Prime-factor plan: natural index of the output at each position (used by the last pass).
  const std::vector<int32_t>& natural() const { return natural_; }

 private:
  void build_stockham() {
    int ns = 1;
    for (int radix : fft_radices(n_)) {
      Pass p{radix, ns, {}, {}, {}};
      p.tw_re.resize(static_cast<size_t>(ns) * radix);
      p.tw_im.resize(p.tw_re.size());
      for (int j = 0; j < ns; ++j) {
        for (int r = 0; r < radix; ++r) {
          const double a = -2.0 * M_PI * j * r / (static_cast<double>(ns) * radix);
          p.tw_re[j * radix + r] = static_cast<float>(std::cos(a));
          p.tw_im[j * radix + r] = static_cast<float>(std::sin(a));
        }
      }
      if (radix % 2 == 1) p.odd = OddTables(radix);
      max_radix_ = std::max(max_radix_, radix);
      passes_.push_back(std::move(p));
      ns *= radix;
    }
    in_pos_.resize(n_);
    std::iota(in_pos_.begin(), in_pos_.end(), 0);
  }

  void build_pfa(const std::vector<int>& f) {
    const int d = static_cast<int>(f.size());
    std::vector<int> stride(d, 1);
    for (int i = d - 2; i >= 0; --i) stride[i] = stride[i + 1] * f[i + 1];
    for (int i = 0; i < d; ++i) {
      Dim dim{f[i], stride[i], n_ / (f[i] * stride[i]), {}};
      if (f[i] % 2 == 1) dim.odd = OddTables(f[i]);
      max_radix_ = std::max(max_radix_, f[i]);
      dims_.push_back(std::move(dim));
    }
    // Position p = sum a_i stride_i holds input sum a_i M_i and, after all passes, output
    // sum a_i M_i (M_i^-1 mod N_i), both mod n.
    in_pos_.assign(n_, 0);
    natural_.assign(n_, 0);
    std::vector<int64_t> in_step(d), out_step(d);
    for (int i = 0; i < d; ++i) {
      const int64_t m = n_ / f[i];
      int64_t inv = 1;
      while ((m * inv) % f[i] != 1 % f[i]) ++inv;
      in_step[i] = m;
      out_step[i] = (m * inv) % n_;
    }
    for (int pos = 0; pos < n_; ++pos) {
      int64_t in = 0, out = 0;
      for (int i = 0; i < d; ++i) {
        const int64_t a = (pos / stride[i]) % f[i];
        in += a * in_step[i];
        out += a * out_step[i];
      }
      in_pos_[in % n_] = pos;
      natural_[pos] = static_cast<int32_t>(out % n_);
    }
  }

  int n_;
  bool pfa_ = false;
  int max_radix_ = 1;
  int scratch_vectors_ = 0;
  std::vector<Pass> passes_;
  std::vector<Dim> dims_;
  std::vector<int32_t> in_pos_, natural_;
};

// Where a kernel writes output k of its line: (y)[k * stride], or, in the prime-factor plan's
// last pass, (y)[table[k * stride]] (outputs scattered straight to their natural order).
struct Stride {
  int s;
  int operator()(int k) const { return k * s; }
};
struct Scatter {
  const int32_t* table;
  int s;
  int operator()(int k) const { return table[k * s]; }
};

// Register tile of the odd-radix kernel: output pairs k .. k + MR - 1 accumulate together, so each
// s_r / d_r formed from the loaded inputs feeds 4 MR multiply-adds. MR = 2 fills 16 vector
// registers (8 accumulators, the 4 data vectors, the coefficients: AVX2); 32 (AVX-512) take 4.
template <int Regs>
constexpr int odd_tile() {
  return Regs >= 32 ? 4 : 2;
}

// Outputs k .. k + MR - 1 and their mirrors R - k ... of one odd-radix DFT, read straight from the
// inputs x_r at (xr, xi)[r * xs]: s_r and d_r are re-formed by each tile (two adds per vector, on
// the adder ports the multiply-adds leave idle) instead of being stored to and reloaded from
// scratch. DC: this tile also accumulates y_0 = x_0 + sum s_r.
template <int MR, bool DC, int L, class Y, class V = typename Lanes<L>::V>
inline void odd_outputs(const OddTables& t, int k, const V* xr, const V* xi, int xs, V* yr, V* yi,
                        Y y) {
  const int h = t.h;
  const V x0r = xr[0], x0i = xi[0];
  V ar[MR], ai[MR], br[MR], bi[MR];
#pragma GCC unroll 4
  for (int u = 0; u < MR; ++u) ar[u] = x0r, ai[u] = x0i, br[u] = V{}, bi[u] = V{};
  V y0r = x0r, y0i = x0i;
  const float* c = &t.cos_t[(k - 1) * h];
  const float* s = &t.sin_t[(k - 1) * h];
  const V* pr = xr + xs;  // x_r
  const V* pi = xi + xs;
  const V* qr = xr + (t.radix - 1) * xs;  // x_{R-r}
  const V* qi = xi + (t.radix - 1) * xs;
  for (int r = 0; r < h; ++r) {
    const V a_r = *pr, a_i = *pi, b_r = *qr, b_i = *qi;
    pr += xs, pi += xs, qr -= xs, qi -= xs;
    const V sr = a_r + b_r, si = a_i + b_i, dr = a_r - b_r, di = a_i - b_i;
    if (DC) y0r += sr, y0i += si;
#pragma GCC unroll 4
    for (int u = 0; u < MR; ++u) {
      const float cu = c[u * h + r], su = s[u * h + r];
      ar[u] += sr * cu;
      ai[u] += si * cu;
      br[u] += dr * su;
      bi[u] += di * su;
    }
  }
#pragma GCC unroll 4
  for (int u = 0; u < MR; ++u) {  // y_k = A - iB, y_{R-k} = A + iB; -iB = (B.im, -B.re)
    const int k1 = y(k + u), k2 = y(t.radix - k - u);
    yr[k1] = ar[u] + bi[u];
    yi[k1] = ai[u] - br[u];
    yr[k2] = ar[u] - bi[u];
    yi[k2] = ai[u] + br[u];
  }
  if (DC) yr[y(0)] = y0r, yi[y(0)] = y0i;
}

// One tile of `size` (1 .. MR) outputs from k; dc: it also forms y_0.
template <int MR, int L, class Y, class V = typename Lanes<L>::V>
inline void odd_tile_of(int size, bool dc, const OddTables& t, int k, const V* xr, const V* xi,
                        int xs, V* yr, V* yi, Y y) {
  if constexpr (MR > 1) {
    if (size < MR) return odd_tile_of<MR - 1, L>(size, dc, t, k, xr, xi, xs, yr, yi, y);
  }
  if (dc) {
    odd_outputs<MR, true, L>(t, k, xr, xi, xs, yr, yi, y);
  } else {
    odd_outputs<MR, false, L>(t, k, xr, xi, xs, yr, yi, y);
  }
}

// Tiles of at most MR outputs covering k = 1 .. h, as even as possible (h = 9, MR = 4: 3 + 3 + 3
// rather than 4 + 4 + 1, whose lone row pays 4 loads and 4 adds per 4 multiply-adds).
template <int MR, int L, class Y, class V = typename Lanes<L>::V>
inline void odd_tiles(const OddTables& t, const V* xr, const V* xi, int xs, V* yr, V* yi, Y y) {
  const int tiles = (t.h + MR - 1) / MR, base = t.h / tiles, extra = t.h % tiles;
  int k = 1;
  for (int i = 0; i < tiles; ++i) {
    const int size = base + (i < extra ? 1 : 0);
    odd_tile_of<MR, L>(size, i == 0, t, k, xr, xi, xs, yr, yi, y);
    k += size;
  }
}

// Rows a .. a + MR - 1 (and a + H ...) of the split kernel (see OddTables): for each b < H, the
// inputs of columns b and b + H are loaded, u / w formed, and fed to the six products; the
// epilogue combines them into outputs rho_a, R - rho_a, rho_{a+H}, R - rho_{a+H}.
template <int MR, bool DC, int L, class Y, class V = typename Lanes<L>::V>
inline void split_outputs(const OddTables& t, int a, const V* xr, const V* xi, int xs, V* yr,
                          V* yi, Y y) {
  const int H = t.split_h, R = t.radix;
  const V x0r = xr[0], x0i = xi[0];
  V pr[MR], pi[MR], mr[MR], mi[MR], btr[MR], bti[MR], bbr[MR], bbi[MR];
#pragma GCC unroll 4
  for (int u = 0; u < MR; ++u) {
    pr[u] = pi[u] = mr[u] = mi[u] = btr[u] = bti[u] = bbr[u] = bbi[u] = V{};
  }
  V y0r = x0r, y0i = x0i;
  const int32_t* rt = t.in_r.data();
  for (int b = 0; b < H; ++b) {
    const int j0 = rt[b] * xs, j1 = (R - rt[b]) * xs;  // x[r_b], x[R - r_b]
    const int j2 = rt[b + H] * xs, j3 = (R - rt[b + H]) * xs;
    const V a0r = xr[j0], a0i = xi[j0], b0r = xr[j1], b0i = xi[j1];
    const V a1r = xr[j2], a1i = xi[j2], b1r = xr[j3], b1i = xi[j3];
    const V ut_r = a0r + b0r, ut_i = a0i + b0i, ub_r = a1r + b1r, ub_i = a1i + b1i;
    const V wt_r = a0r - b0r, wt_i = a0i - b0i, wb_r = a1r - b1r, wb_i = a1i - b1i;
    const V up_r = ut_r + ub_r, up_i = ut_i + ub_i, um_r = ut_r - ub_r, um_i = ut_i - ub_i;
    if (DC) y0r += up_r, y0i += up_i;
#pragma GCC unroll 4
    for (int u = 0; u < MR; ++u) {
      const int e = (a + u) * H + b;
      const float cp = t.cp[e], cm = t.cm[e], s1 = t.s1[e], s2 = t.s2[e];
      pr[u] += up_r * cp;
      pi[u] += up_i * cp;
      mr[u] += um_r * cm;
      mi[u] += um_i * cm;
      btr[u] += wt_r * s1;  // B top = S1 w_t - S2 w_b
      bti[u] += wt_i * s1;
      btr[u] -= wb_r * s2;
      bti[u] -= wb_i * s2;
      bbr[u] += wt_r * s2;  // B bottom = S2 w_t + S1 w_b
      bbi[u] += wt_i * s2;
      bbr[u] += wb_r * s1;
      bbi[u] += wb_i * s1;
    }
  }
#pragma GCC unroll 4
  for (int u = 0; u < MR; ++u) {  // y[rho] = A - iB, y[R - rho] = A + iB; -iB = (B.im, -B.re)
    const V at_r = x0r + pr[u] + mr[u], at_i = x0i + pi[u] + mi[u];
    const V ab_r = x0r + pr[u] - mr[u], ab_i = x0i + pi[u] - mi[u];
    const V bt_r = btr[u], bt_i = bti[u], bb_r = bbr[u], bb_i = bbi[u];
    const int rt_ = t.out_rho[a + u], rb_ = t.out_rho[a + u + H];
    yr[y(rt_)] = at_r + bt_i;
    yi[y(rt_)] = at_i - bt_r;
    yr[y(R - rt_)] = at_r - bt_i;
    yi[y(R - rt_)] = at_i + bt_r;
    yr[y(rb_)] = ab_r + bb_i;
    yi[y(rb_)] = ab_i - bb_r;
    yr[y(R - rb_)] = ab_r - bb_i;
    yi[y(R - rb_)] = ab_i + bb_r;
  }
  if (DC) yr[y(0)] = y0r, yi[y(0)] = y0i;
}

// One odd-radix DFT, out of place: inputs x_r at (xr, xi)[r * xs], outputs y_k to (yr, yi)[y(k)].
// Regs: vector registers of the target (16: AVX2, 32: AVX-512), which picks the kernel shape.
template <int L, int Regs, class Y, class V = typename Lanes<L>::V>
inline void odd_dft(const OddTables& t, const V* xr, const V* xi, int xs, V* yr, V* yi, Y y) {
  if (t.split_h > 0 && Regs >= 32) {
    // Pairs of rows: 16 accumulators and 8 data vectors, so AVX-512 only (32 registers; with
    // AVX2's 16 the spills cost more than the split saves: measured).
    // y_0 rides on the last tile, the lightest.
    const int H = t.split_h;
    int a = 0;
    for (; a + 2 < H; a += 2) split_outputs<2, false, L>(t, a, xr, xi, xs, yr, yi, y);
    if (H - a == 2) {
      split_outputs<2, true, L>(t, a, xr, xi, xs, yr, yi, y);
    } else {
      split_outputs<1, true, L>(t, a, xr, xi, xs, yr, yi, y);
    }
    return;
  }
  odd_tiles<odd_tile<Regs>(), L>(t, xr, xi, xs, yr, yi, y);
}

// Radix 2 or 4 DFT with optional twiddles (tw_r multiplies x_r), same conventions as odd_dft.
template <int L, class Y, class V = typename Lanes<L>::V>
inline void small_dft(int R, const V* xr, const V* xi, int xs, const float* tw_re,
                      const float* tw_im, V* yr, V* yi, Y y) {
  V a[4], b[4];
  for (int r = 0; r < R; ++r) {
    a[r] = xr[r * xs];
    b[r] = xi[r * xs];
    if (tw_re != nullptr && r > 0) {
      const V re = a[r];
      a[r] = re * tw_re[r] - b[r] * tw_im[r];
      b[r] = re * tw_im[r] + b[r] * tw_re[r];
    }
  }
  if (R == 2) {
    yr[y(0)] = a[0] + a[1];
    yi[y(0)] = b[0] + b[1];
    yr[y(1)] = a[0] - a[1];
    yi[y(1)] = b[0] - b[1];
    return;
  }
  const V ar = a[0] + a[2], ai = b[0] + b[2];
  const V br = a[0] - a[2], bi = b[0] - b[2];
  const V cr = a[1] + a[3], ci = b[1] + b[3];
  const V dr = a[1] - a[3], di = b[1] - b[3];
  yr[y(0)] = ar + cr;
  yi[y(0)] = ai + ci;
  yr[y(2)] = ar - cr;
  yi[y(2)] = ai - ci;
  // y1 = b - i d, y3 = b + i d
  yr[y(1)] = br + di;
  yi[y(1)] = bi - dr;
  yr[y(3)] = br - di;
  yi[y(3)] = bi + dr;
}

// Where fft_forward left its result.
template <int L>
struct FftResult {
  typename Lanes<L>::V* re;
  typename Lanes<L>::V* im;
};

// Forward FFT of L lanes (V = Lanes<L>::V). re/im hold the input, stored at plan.in_pos()
// (n vectors each); wre/wim are work space of the same size; v is scratch of
// plan.scratch_vectors() vectors. Every pass reads one buffer pair and writes the other; the
// result, in natural order, is in whichever pair the last pass wrote.
template <int L, int Regs, class V = typename Lanes<L>::V>
inline FftResult<L> fft_forward(const FftPlan& plan, V* re, V* im, V* wre, V* wim, V* v) {
  V* sr = re;
  V* si = im;
  V* dr = wre;
  V* di = wim;
  if (plan.prime_factor()) {
    const std::vector<FftPlan::Dim>& dims = plan.dims();
    for (size_t pass = 0; pass < dims.size(); ++pass) {
      const FftPlan::Dim& d = dims[pass];
      const int R = d.radix;
      const int s = d.stride;
      const bool last = pass + 1 == dims.size();
      for (int o = 0; o < d.outer; ++o) {
        for (int i = 0; i < s; ++i) {
          const int base = o * R * s + i;
          const V* xr = sr + base;
          const V* xi = si + base;
          if (last) {  // outputs straight to their natural index
            const Scatter y{plan.natural().data() + base, s};
            if (R % 2 == 1) {
              odd_dft<L, Regs>(d.odd, xr, xi, s, dr, di, y);
            } else {
              small_dft<L>(R, xr, xi, s, nullptr, nullptr, dr, di, y);
            }
          } else if (R % 2 == 1) {
            odd_dft<L, Regs>(d.odd, xr, xi, s, dr + base, di + base, Stride{s});
          } else {
            small_dft<L>(R, xr, xi, s, nullptr, nullptr, dr + base, di + base, Stride{s});
          }
        }
      }
      std::swap(sr, dr);
      std::swap(si, di);
    }
    return {sr, si};
  }
  const int n = plan.size();
  for (const FftPlan::Pass& p : plan.passes()) {
    const int R = p.radix;
    const int ns = p.ns;
    const int stride = n / R;
    for (int j = 0; j < stride; ++j) {
      const int jm = j % ns;
      const int base = (j / ns) * ns * R + jm;  // output r goes to base + r * ns (autosorted)
      const float* twr = ns > 1 ? &p.tw_re[jm * R] : nullptr;
      const float* twi = ns > 1 ? &p.tw_im[jm * R] : nullptr;
      if (R % 2 == 0) {
        small_dft<L>(R, sr + j, si + j, stride, twr, twi, dr + base, di + base, Stride{ns});
      } else if (twr == nullptr) {
        odd_dft<L, Regs>(p.odd, sr + j, si + j, stride, dr + base, di + base, Stride{ns});
      } else {  // twiddled inputs gathered into v first
        for (int r = 0; r < R; ++r) {
          const V a = sr[j + r * stride], b = si[j + r * stride];
          v[r] = a * twr[r] - b * twi[r];
          v[R + r] = a * twi[r] + b * twr[r];
        }
        odd_dft<L, Regs>(p.odd, v, v + R, 1, dr + base, di + base, Stride{ns});
      }
    }
    std::swap(sr, dr);
    std::swap(si, di);
  }
  return {sr, si};
}

}  // namespace a2d
