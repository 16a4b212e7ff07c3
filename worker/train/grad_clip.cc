#include "worker/train/grad_clip.h"

namespace moe::worker {

torch::Tensor ClipGradNorm(torch::Tensor& grad, double max_norm, Communicator& comm) {
  torch::NoGradGuard no_grad;
  torch::Tensor sum_sq = torch::linalg_vector_norm(grad, 2).square().reshape({1});
  comm.AllReduceSum(sum_sq);
  const torch::Tensor norm = sum_sq.sqrt().reshape({});
  if (max_norm > 0) grad.mul_((max_norm / (norm + 1e-6)).clamp_max(1.0));
  return norm;
}

}  // namespace moe::worker
