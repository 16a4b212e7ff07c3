// The fused host AdamW step (ZeRO-Offload's) against LibTorch's own torch::optim::AdamW over
// a partition large enough to be split between threads, with and without weight decay; its
// bf16 output against LibTorch's fp32 -> bf16 conversion, bit for bit, on rounding ties,
// infinities and NaN; and the same bits whatever the number of threads.
#include "worker/train/host_adamw.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <limits>

#include "gtest/gtest.h"

namespace moe::worker {
namespace {

constexpr double kLr = 3e-3, kBeta1 = 0.9, kBeta2 = 0.95, kEps = 1e-8;

struct State {
  torch::Tensor master, m, v;
};

State Fresh(const torch::Tensor& init) {
  return {init.clone(), torch::zeros_like(init), torch::zeros_like(init)};
}

void Step(State& s, const torch::Tensor& grad, bool decay, double weight_decay, int64_t step,
          HostAdamWOut out = {}) {
  const HostAdamWScalars scalars =
      HostAdamWScalars::For(kLr, kBeta1, kBeta2, kEps, decay ? weight_decay : 0.0, step);
  HostAdamWStep(scalars, decay, grad.data_ptr<float>(), s.master.data_ptr<float>(),
                s.m.data_ptr<float>(), s.v.data_ptr<float>(), out, grad.numel());
}

class HostAdamW : public ::testing::TestWithParam<double> {};

TEST_P(HostAdamW, MatchesLibTorchAdamWOverManyThreadsChunks) {
  const double weight_decay = GetParam();
  torch::manual_seed(3);
  const int64_t n = 300'001;  // several thread pieces and a ragged tail
  const torch::Tensor init = torch::randn({n});
  State ours = Fresh(init);
  torch::Tensor theirs = init.clone().set_requires_grad(true);
  torch::optim::AdamW reference(
      {theirs},
      torch::optim::AdamWOptions(kLr).betas({kBeta1, kBeta2}).eps(kEps).weight_decay(weight_decay));
  for (int64_t step = 1; step <= 6; ++step) {
    // Gradients spanning magnitudes, some exactly zero.
    torch::Tensor grad = torch::randn({n}) * torch::pow(10.0, torch::randint(-6, 2, {n}));
    grad.index_put_({torch::rand({n}) < 0.01}, 0.0);
    Step(ours, grad, weight_decay > 0, weight_decay, step);
    theirs.mutable_grad() = grad.clone();
    reference.step();
    // Within 1e-6 of the weights' scale (LibTorch's kernels fuse some multiply-adds, ours
    // round each operation): a wrong term would miss by about lr = 3e-3.
    const double worst =
        ((ours.master - theirs.detach()).abs() / theirs.detach().abs().clamp_min(1.0))
            .max()
            .item<double>();
    EXPECT_LT(worst, 1e-6) << "step " << step;
  }
  // The state moved: the comparison is not of untouched copies.
  EXPECT_GT((ours.master - init).abs().max().item<double>(), kLr);
}

INSTANTIATE_TEST_SUITE_P(WeightDecay, HostAdamW, ::testing::Values(0.0, 0.1));

TEST(HostAdamWOut, Bf16IsLibTorchsConversionBitForBit) {
  std::vector<float> values = {1.0f,
                               1.00390625f,  // exactly halfway between two bf16: ties to even
                               1.01171875f,  // halfway, rounds up to even
                               -3.1415926f,
                               65504.0f,
                               3.3895314e38f,  // rounds up to infinity
                               1e-40f,         // subnormal
                               -0.0f,
                               std::numeric_limits<float>::infinity(),
                               -std::numeric_limits<float>::infinity(),
                               std::numeric_limits<float>::quiet_NaN()};
  for (int i = 0; i < 1000; ++i)
    values.push_back(static_cast<float>(std::ldexp(i * 0.37 - 90, i % 60 - 30)));
  const int64_t n = static_cast<int64_t>(values.size());
  // A step with zero gradient, no decay and lr 0 leaves each value as it is, so the output is
  // exactly the conversion of `values`.
  State s = Fresh(torch::from_blob(values.data(), {n}, torch::kFloat32).clone());
  const torch::Tensor grad = torch::zeros({n});
  torch::Tensor out = torch::empty({n}, torch::kBFloat16);
  const HostAdamWScalars scalars = HostAdamWScalars::For(0.0, kBeta1, kBeta2, kEps, 0.0, 1);
  HostAdamWOut o;
  o.bf16 = reinterpret_cast<uint16_t*>(out.data_ptr<at::BFloat16>());
  HostAdamWStep(scalars, false, grad.data_ptr<float>(), s.master.data_ptr<float>(),
                s.m.data_ptr<float>(), s.v.data_ptr<float>(), o, n);
  const torch::Tensor expected = s.master.to(torch::kBFloat16);
  // NaN has no one bit pattern: LibTorch's vectorised conversion gives 0xFFFF, its scalar one
  // (and ours) 0x7FC0. Every NaN must stay a NaN; every other value match bit for bit.
  const torch::Tensor nan = expected.isnan();
  EXPECT_TRUE(torch::equal(out.isnan(), nan));
  const torch::Tensor got_bits = out.view(torch::kInt16).masked_fill(nan, 0),
                      want_bits = expected.view(torch::kInt16).masked_fill(nan, 0);
  EXPECT_TRUE(torch::equal(got_bits, want_bits))
      << "first difference at " << (got_bits != want_bits).nonzero().index({0}).item<int64_t>();
}

TEST(HostAdamWOut, Fp32OutputIsTheMasterAndThreadsChangeNoBit) {
  torch::manual_seed(4);
  const int64_t n = 200'000;
  const torch::Tensor init = torch::randn({n}), grad = torch::randn({n});
  const int threads = at::get_num_threads();
  State one = Fresh(init), many = Fresh(init);
  torch::Tensor out = torch::empty({n});
  at::set_num_threads(1);
  Step(one, grad, true, 0.1, 1);
  at::set_num_threads(std::max(threads, 2));
  HostAdamWOut o;
  o.fp32 = out.data_ptr<float>();
  Step(many, grad, true, 0.1, 1, o);
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(one.master, many.master));
  EXPECT_TRUE(torch::equal(one.v, many.v));
  EXPECT_TRUE(torch::equal(out, many.master));
}

}  // namespace
}  // namespace moe::worker
