// The pieces of a step: LR schedule values, clipping, AdamW against LibTorch's own AdamW,
// and gradient accumulation equal to one larger batch.
#include <cmath>

#include "gtest/gtest.h"
#include "tests/testing/model_test_util.h"
#include "worker/parallel/communicator.h"
#include "worker/train/adamw.h"
#include "worker/train/flat_parameters.h"
#include "worker/train/grad_clip.h"
#include "worker/train/lr_schedule.h"
#include "worker/train/trainer.h"

namespace moe::worker {
namespace {

moe::v1::TrainingSpec Training(moe::v1::LrSchedule kind) {
  moe::v1::TrainingSpec t;
  t.set_learning_rate(1e-3);
  t.set_warmup_steps(10);
  t.set_lr_schedule(kind);
  t.set_adam_beta1(0.9);
  t.set_adam_beta2(0.95);
  t.set_adam_eps(1e-8);
  t.set_weight_decay(0.1);
  return t;
}

TEST(LrSchedule, ValuesAtKeySteps) {
  const LrSchedule linear(Training(moe::v1::LR_SCHEDULE_LINEAR), 110);
  EXPECT_DOUBLE_EQ(linear.At(1), 1e-4);  // warmup: 1/10 of the peak
  EXPECT_DOUBLE_EQ(linear.At(5), 5e-4);
  EXPECT_DOUBLE_EQ(linear.At(10), 1e-3);  // peak at the end of warmup
  EXPECT_DOUBLE_EQ(linear.At(60), 5e-4);  // halfway through the decay
  EXPECT_DOUBLE_EQ(linear.At(110), 0.0);  // zero at the last step
  const LrSchedule cosine(Training(moe::v1::LR_SCHEDULE_COSINE), 110);
  EXPECT_DOUBLE_EQ(cosine.At(10), 1e-3);
  EXPECT_NEAR(cosine.At(60), 5e-4, 1e-15);  // cos(pi/2) = 0: half the peak
  EXPECT_NEAR(cosine.At(35), 1e-3 * 0.5 * (1 + std::cos(M_PI / 4)), 1e-15);
  EXPECT_NEAR(cosine.At(110), 0.0, 1e-15);
  const LrSchedule constant(Training(moe::v1::LR_SCHEDULE_CONSTANT), 110);
  EXPECT_DOUBLE_EQ(constant.At(5), 5e-4);
  EXPECT_DOUBLE_EQ(constant.At(100), 1e-3);
}

TEST(GradClip, ClipsToMaxNormAndLeavesSmallGradientsAlone) {
  LocalCommunicator comm;
  torch::Tensor big = torch::randn({1000}) * 10;
  const double norm = big.norm().item<double>();
  const torch::Tensor before = big.clone();
  EXPECT_NEAR(ClipGradNorm(big, 1.0, comm).item<double>(), norm, 1e-6 * norm);
  EXPECT_LE(big.norm().item<double>(), 1.0 + 1e-6);
  EXPECT_TRUE(torch::allclose(big * norm, before, 1e-4));  // same direction
  torch::Tensor small = torch::randn({1000}) * 1e-3;
  const torch::Tensor small_before = small.clone();
  ClipGradNorm(small, 1.0, comm);
  EXPECT_TRUE(torch::equal(small, small_before));
  ClipGradNorm(big, 0.0, comm);  // 0: no clipping
}

// On the parameters' device (tensor path) and offloaded (the fused host step).
class AdamWPlacement : public ::testing::TestWithParam<bool> {};

TEST_P(AdamWPlacement, MatchesLibTorchAdamW) {
  torch::manual_seed(1);
  torch::nn::Linear ours(torch::nn::LinearOptions(8, 4).bias(false));
  torch::nn::Linear theirs(torch::nn::LinearOptions(8, 4).bias(false));
  {
    torch::NoGradGuard no_grad;
    theirs->weight.copy_(ours->weight);
  }
  const moe::v1::TrainingSpec spec = Training(moe::v1::LR_SCHEDULE_CONSTANT);
  FlatParameters flat(*ours);
  AdamW adam(spec, flat, 0, flat.params().numel(), /*offload=*/GetParam());
  EXPECT_EQ(adam.offloaded(), GetParam());
  torch::optim::AdamW reference(
      theirs->parameters(),
      torch::optim::AdamWOptions(1e-2).betas({0.9, 0.95}).eps(1e-8).weight_decay(0.1));
  for (int step = 0; step < 5; ++step) {
    const torch::Tensor x = torch::randn({3, 8});
    ours->forward(x).pow(2).sum().backward();
    flat.AccumulateGradients();
    adam.Step(flat.grads(), 1e-2);
    flat.grads().zero_();
    reference.zero_grad();
    theirs->forward(x).pow(2).sum().backward();
    reference.step();
    EXPECT_LT((ours->weight - theirs->weight).abs().max().item<double>(), 1e-6) << "step " << step;
  }
}

INSTANTIATE_TEST_SUITE_P(DeviceAndHost, AdamWPlacement, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Offloaded" : "OnDevice"; });

TEST(GradientAccumulation, KMicroBatchesEqualOneBatchKTimesLarger) {
  torch::manual_seed(2);
  const moe::v1::MptConfig config = testing::SmallConfig(32, 4, 2);
  const torch::Tensor ids = torch::randint(97, {4, 12});
  torch::Tensor labels = torch::randint(97, {4, 12});
  labels.index_put_({torch::indexing::Slice(), torch::indexing::Slice(0, 5)}, -100);  // prompts
  labels[3].fill_(-100);  // uneven token counts per micro-batch
  labels[2].slice(0, 5, 12).fill_(-100);
  const int64_t total_tokens = (labels != -100).sum().item<int64_t>();
  std::vector<torch::Tensor> grads;
  for (int k : {1, 2, 4}) {
    MptForCausalLM model(config, moe::v1::MoeSpec());
    model->InitializeWeights(3);
    FlatParameters flat(*model);
    for (int i = 0; i < k; ++i) {
      const int64_t rows = 4 / k;
      const torch::Tensor b_ids = ids.narrow(0, i * rows, rows),
                          b_labels = labels.narrow(0, i * rows, rows);
      const ModelOutput out = model->forward({b_ids, {}, {}});
      (SummedCrossEntropy(out.logits_BTV, b_labels) / total_tokens).backward();
      flat.AccumulateGradients();
    }
    grads.push_back(flat.grads().clone());
  }
  EXPECT_LT((grads[1] - grads[0]).abs().max().item<double>(), 1e-6);
  EXPECT_LT((grads[2] - grads[0]).abs().max().item<double>(), 1e-6);
  EXPECT_GT(grads[0].abs().max().item<double>(), 1e-3);
}

}  // namespace
}  // namespace moe::worker
