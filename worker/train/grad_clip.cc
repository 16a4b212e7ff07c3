#include "worker/train/grad_clip.h"

#include <cmath>

namespace moe::worker {

double ClipGradNorm(torch::Tensor& grad, double max_norm, Communicator& comm) {
  torch::NoGradGuard no_grad;
  torch::Tensor sum_sq = grad.to(torch::kFloat64).pow(2).sum().reshape({1});
  comm.AllReduceSum(sum_sq);
  const double norm = std::sqrt(sum_sq.item<double>());
  if (max_norm > 0) {
    const double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0) grad.mul_(coef);
  }
  return norm;
}

}  // namespace moe::worker
