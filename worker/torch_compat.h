// The one place where LibTorch version differences are handled (Debian's 1.13 on CPU
// machines, PyTorch 2.x's LibTorch on GPU machines).
#ifndef MOE_WORKER_TORCH_COMPAT_H_
#define MOE_WORKER_TORCH_COMPAT_H_

#include <torch/torch.h>
#include <torch/version.h>

#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>

#define MOE_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) ||      \
   (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace moe::worker {

// What c10d's Gloo and NCCL process groups derive from: c10d::ProcessGroup in LibTorch 1.13,
// c10d::Backend (a ProcessGroup holds one per device type) from 2.0.
#if MOE_TORCH_AT_LEAST(2, 0)
using C10dBackend = c10d::Backend;
#else
using C10dBackend = c10d::ProcessGroup;
#endif

// softmax(q k^T * scale + bias) v for q, k, v [B, H, T, K] and an additive float bias
// broadcastable to [B, H, T, T] (-inf where attention is not allowed). Uses the fused
// scaled_dot_product_attention kernel where LibTorch has it (2.1+), else the plain formula;
// both compute the same function.
inline torch::Tensor Attention(const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, const torch::Tensor& bias, double scale) {
#if MOE_TORCH_AT_LEAST(2, 1)
  return at::scaled_dot_product_attention(q, k, v, bias, /*dropout_p=*/0.0, /*is_causal=*/false,
                                          scale);
#else
  torch::Tensor scores = torch::matmul(q, k.transpose(-2, -1)) * scale + bias;
  return torch::matmul(torch::softmax(scores, -1, scores.scalar_type()), v);
#endif
}

}  // namespace moe::worker

#endif  // MOE_WORKER_TORCH_COMPAT_H_
