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
  for (const ParameterRange& r : flat.ranges()) {
    const int64_t lo = std::max(r.offset, begin), hi = std::min(r.offset + r.numel, end);
    if (!r.decay || lo >= hi) continue;
    if (!decay_ranges_.empty() && decay_ranges_.back().second == lo - begin) {
      decay_ranges_.back().second = hi - begin;
    } else {
      decay_ranges_.emplace_back(lo - begin, hi - begin);
    }
  }
}

void AdamW::Step(const torch::Tensor& grad, double lr) {
  torch::NoGradGuard no_grad;
  ++step_;
  if (weight_decay_ > 0) {
    for (const auto& [lo, hi] : decay_ranges_)
      master_.narrow(0, lo, hi - lo).mul_(1.0 - lr * weight_decay_);
  }
  const double bias1 = 1.0 - std::pow(beta1_, static_cast<double>(step_));
  const double bias2 = 1.0 - std::pow(beta2_, static_cast<double>(step_));
  const int64_t n = master_.numel();
  for (int64_t at = 0; at < n; at += kChunk) {
    const int64_t len = std::min(kChunk, n - at);
    const torch::Tensor g = grad.narrow(0, at, len);
    torch::Tensor m = exp_avg_.narrow(0, at, len), v = exp_avg_sq_.narrow(0, at, len);
    m.mul_(beta1_).add_(g, 1.0 - beta1_);
    v.mul_(beta2_).addcmul_(g, g, 1.0 - beta2_);
    const torch::Tensor denom = (v.sqrt() / std::sqrt(bias2)).add_(eps_);
    master_.narrow(0, at, len).addcdiv_(m, denom, -lr / bias1);
  }
  PublishMaster();
}

void AdamW::PublishMaster() {
  torch::NoGradGuard no_grad;
  flat_.params().narrow(0, begin_, end_ - begin_).copy_(master_);
}

}  // namespace moe::worker
