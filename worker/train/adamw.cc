#include "worker/train/adamw.h"

#include <algorithm>
#include <cmath>

#include "common/check.h"
#include "worker/train/host_adamw.h"

namespace moe::worker {

AdamW::AdamW(const moe::v1::TrainingSpec& spec, FlatParameters& flat, int64_t begin, int64_t end,
             bool offload)
    : flat_(flat),
      begin_(begin),
      end_(end),
      offload_(offload),
      beta1_(spec.adam_beta1()),
      beta2_(spec.adam_beta2()),
      eps_(spec.adam_eps()),
      weight_decay_(spec.weight_decay()) {
  torch::NoGradGuard no_grad;
  const torch::Tensor range = flat.params().narrow(0, begin, end - begin);
  // Offloaded: host memory, pinned when the parameters are on a GPU (so that copies to and from
  // it run without blocking). Otherwise the parameters' device.
  const torch::TensorOptions state =
      offload ? torch::dtype(torch::kFloat32).device(torch::kCPU).pinned_memory(range.is_cuda())
              : range.options().dtype(torch::kFloat32);
  master_ = torch::empty({end - begin}, state);
  master_.copy_(range);
  exp_avg_ = torch::zeros({end - begin}, state);
  exp_avg_sq_ = torch::zeros({end - begin}, state);
  if (offload && range.is_cuda()) {
    staging_ = torch::empty({end - begin},
                            torch::dtype(range.scalar_type()).pinned_memory(true));  // host
  }
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
  if (offload_) {
    StepOnHost(grad, lr);
  } else {
    StepTensors(grad, lr);
  }
}

void AdamW::StepOnHost(const torch::Tensor& grad, double lr) {
  MOE_CHECK(grad.device().is_cpu() && grad.scalar_type() == torch::kFloat32 &&
                grad.is_contiguous() && grad.numel() == master_.numel(),
            "an offloaded AdamW step needs the fp32 gradient of its range in host memory");
  const HostAdamWScalars s = HostAdamWScalars::For(lr, beta1_, beta2_, eps_, weight_decay_, step_);
  torch::Tensor range = flat_.params().narrow(0, begin_, end_ - begin_);
  torch::Tensor& out = staging_.defined() ? staging_ : range;  // a CPU model: in place
  // The range in pieces that alternate between decayed and not, in order.
  int64_t at = 0;
  const auto run = [&](int64_t lo, int64_t hi, bool decay) {
    if (lo >= hi) return;
    HostAdamWOut o;
    if (out.scalar_type() == torch::kBFloat16) {
      o.bf16 = reinterpret_cast<uint16_t*>(out.data_ptr<at::BFloat16>()) + lo;
    } else {
      o.fp32 = out.data_ptr<float>() + lo;
    }
    HostAdamWStep(s, decay && weight_decay_ > 0, grad.data_ptr<float>() + lo,
                  master_.data_ptr<float>() + lo, exp_avg_.data_ptr<float>() + lo,
                  exp_avg_sq_.data_ptr<float>() + lo, o, hi - lo);
  };
  for (const auto& [lo, hi] : decay_ranges_) {
    run(at, lo, false);
    run(lo, hi, true);
    at = hi;
  }
  run(at, master_.numel(), false);
  // The host does not wait: the copy is queued before the all-gather that reads it, and the
  // staging buffer is written again only after the next step's gradients reached the host
  // (synchronous copies, queued after this one).
  if (staging_.defined()) range.copy_(staging_, /*non_blocking=*/true);
}

void AdamW::StepTensors(const torch::Tensor& grad, double lr) {
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
