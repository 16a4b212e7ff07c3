#include "worker/train/adamw.h"

#include <algorithm>
#include <cmath>

namespace moe::worker {

AdamW::AdamW(const moe::v1::TrainingSpec& spec, FlatParameters& flat, int64_t begin, int64_t end)
    : flat_(flat),
      begin_(begin),
      end_(end),
      beta1_(spec.adam_beta1()),
      beta2_(spec.adam_beta2()),
      eps_(spec.adam_eps()),
      weight_decay_(spec.weight_decay()) {
  torch::NoGradGuard no_grad;
  master_ = flat.params().narrow(0, begin, end - begin).to(torch::kFloat32).clone();
  exp_avg_ = torch::zeros_like(master_);
  exp_avg_sq_ = torch::zeros_like(master_);
  if (weight_decay_ > 0) {
    decay_mask_ = torch::zeros_like(master_);
    for (const ParameterRange& r : flat.ranges()) {
      const int64_t lo = std::max(r.offset, begin), hi = std::min(r.offset + r.numel, end);
      if (r.decay && lo < hi) decay_mask_.narrow(0, lo - begin, hi - lo).fill_(1.0);
    }
  }
}

void AdamW::Step(const torch::Tensor& grad, double lr) {
  torch::NoGradGuard no_grad;
  ++step_;
  if (weight_decay_ > 0) master_.mul_(1.0 - lr * weight_decay_ * decay_mask_);
  exp_avg_.mul_(beta1_).add_(grad, 1.0 - beta1_);
  exp_avg_sq_.mul_(beta2_).addcmul_(grad, grad, 1.0 - beta2_);
  const double bias1 = 1.0 - std::pow(beta1_, static_cast<double>(step_));
  const double bias2 = 1.0 - std::pow(beta2_, static_cast<double>(step_));
  const torch::Tensor denom = (exp_avg_sq_.sqrt() / std::sqrt(bias2)).add_(eps_);
  master_.addcdiv_(exp_avg_, denom, -lr / bias1);
  PublishMaster();
}

void AdamW::PublishMaster() {
  torch::NoGradGuard no_grad;
  flat_.params().narrow(0, begin_, end_ - begin_).copy_(master_);
}

}  // namespace moe::worker
