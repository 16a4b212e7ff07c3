#include "worker/train/host_adamw.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <cstring>

namespace moe::worker {
namespace {

// Elements per task of the thread pool: large enough to amortise a task, small enough to keep
// every core busy on a partition of a few million elements.
constexpr int64_t kGrain = int64_t{1} << 15;

// fp32 -> bf16 bits, round to nearest even, NaN kept a quiet NaN (c10::BFloat16's rule).
inline uint16_t ToBf16(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof(bits));
  const uint32_t rounded = (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
  return x != x ? uint16_t{0x7FC0} : static_cast<uint16_t>(rounded);
}

// One element, in the tensor path's order: decay, m = m*b1 + g*(1-b1),
// v = v*b2 + (1-b2)*g*g, p = p + step_size * m / (sqrt(v) / bias2_sqrt + eps).
template <bool kDecay>
inline float Update(const HostAdamWScalars& s, float g, float& p, float& m, float& v) {
  if (kDecay) p = p * s.decay_factor;
  m = m * s.beta1 + s.one_minus_beta1 * g;
  v = v * s.beta2 + s.one_minus_beta2 * g * g;
  p = p + s.step_size * (m / (std::sqrt(v) / s.bias2_sqrt + s.eps));
  return p;
}

template <bool kDecay>
inline void Loop(const HostAdamWScalars& s, const float* __restrict g, float* __restrict p,
                 float* __restrict m, float* __restrict v, HostAdamWOut out, int64_t n) {
  if (out.bf16 != nullptr) {
    uint16_t* __restrict o = out.bf16;
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) o[i] = ToBf16(Update<kDecay>(s, g[i], p[i], m[i], v[i]));
  } else if (out.fp32 != nullptr) {
    float* __restrict o = out.fp32;
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) o[i] = Update<kDecay>(s, g[i], p[i], m[i], v[i]);
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) Update<kDecay>(s, g[i], p[i], m[i], v[i]);
  }
}

// One thread's piece, compiled for AVX-512, AVX2 and baseline x86-64 and picked at load time.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void Piece(const HostAdamWScalars& s, bool decay, const float* g, float* p, float* m, float* v,
           HostAdamWOut out, int64_t n) {
  if (decay) {
    Loop<true>(s, g, p, m, v, out, n);
  } else {
    Loop<false>(s, g, p, m, v, out, n);
  }
}

}  // namespace

HostAdamWScalars HostAdamWScalars::For(double lr, double beta1, double beta2, double eps,
                                       double weight_decay, int64_t step) {
  const double t = static_cast<double>(step);
  HostAdamWScalars s;
  s.beta1 = static_cast<float>(beta1);
  s.one_minus_beta1 = static_cast<float>(1.0 - beta1);
  s.beta2 = static_cast<float>(beta2);
  s.one_minus_beta2 = static_cast<float>(1.0 - beta2);
  s.eps = static_cast<float>(eps);
  s.decay_factor = static_cast<float>(1.0 - lr * weight_decay);
  s.bias2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(beta2, t)));
  s.step_size = static_cast<float>(-lr / (1.0 - std::pow(beta1, t)));
  return s;
}

void HostAdamWStep(const HostAdamWScalars& s, bool decay, const float* grad, float* master,
                   float* exp_avg, float* exp_avg_sq, HostAdamWOut out, int64_t n) {
  at::parallel_for(0, n, kGrain, [&](int64_t lo, int64_t hi) {
    HostAdamWOut piece;
    if (out.fp32 != nullptr) piece.fp32 = out.fp32 + lo;
    if (out.bf16 != nullptr) piece.bf16 = out.bf16 + lo;
    Piece(s, decay, grad + lo, master + lo, exp_avg + lo, exp_avg_sq + lo, piece, hi - lo);
  });
}

}  // namespace moe::worker
