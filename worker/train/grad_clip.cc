#include "worker/train/grad_clip.h"

#include <algorithm>

namespace moe::worker {

torch::Tensor ClipGradNorm(torch::Tensor& grad, double max_norm, Communicator& comm) {
  torch::NoGradGuard no_grad;
  // The sum of squares in fp64 (so that it does not depend on how ranks split the gradient),
  // a bounded piece at a time: no fp64 copy of the gradient is ever made.
  constexpr int64_t kChunk = int64_t{1} << 22;
  torch::Tensor sum_sq = torch::zeros({1}, grad.options().dtype(torch::kFloat64));
  for (int64_t at = 0; at < grad.numel(); at += kChunk) {
    const torch::Tensor piece = grad.narrow(0, at, std::min(kChunk, grad.numel() - at));
    sum_sq.add_(piece.to(torch::kFloat64).square().sum());
  }
  // A host gradient (offloaded) is reduced on the communicator's device all the same.
  torch::Tensor reduced = sum_sq.to(comm.device());
  comm.AllReduceSum(reduced);
  const torch::Tensor norm = reduced.sqrt().reshape({});
  if (max_norm > 0) grad.mul_((max_norm / (norm + 1e-6)).clamp_max(1.0).to(grad.device()));
  return norm;
}

}  // namespace moe::worker
