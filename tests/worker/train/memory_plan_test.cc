// The memory plan the trainer states at start is what a real run takes: for four shapes on the
// CPU (MoE at two sizes, dense, MoE with the optimizer offloaded), the peak of tensor memory
// measured while training (a counting allocator under LibTorch's) is within 10 % of the plan's
// total (a CPU job's device is the host: device and host terms together). And the plan's terms
// follow the design: ZeRO-2 divides gradients and optimizer state by the world size, not the
// parameters.
#include "common/memory_plan.h"

#include <cmath>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/testing/train_test_util.h"
#include "worker/parallel/communicator.h"
#include "worker/parallel/memory_stats.h"
#include "worker/train/trainer.h"

namespace moe::worker {
namespace {

struct Size {
  int d_model, layers, seq_len, micro_batch;
  bool experts = true, offload = false;
};

class MeasuredPeak : public ::testing::TestWithParam<Size> {};

TEST_P(MeasuredPeak, IsWithinTenPercentOfThePlan) {
  TrackCpuAllocations();
  const Size size = GetParam();
  moe::v1::JobSpec spec = testing::SmallJob(testing::FreshDir("memory_plan"));
  moe::v1::MptConfig* c = spec.mutable_model()->mutable_config();
  c->set_d_model(size.d_model);
  c->set_n_layers(size.layers);
  c->set_max_seq_len(size.seq_len);
  spec.mutable_data()->set_max_seq_len(size.seq_len);
  spec.mutable_data()->set_max_samples(400);
  spec.mutable_training()->set_micro_batch_size(size.micro_batch);
  if (!size.experts) spec.mutable_model()->mutable_moe()->clear_experts();
  if (size.offload) spec.mutable_zero()->set_offload_optimizer(moe::v1::OFFLOAD_DEVICE_CPU);
  spec.mutable_checkpoint()->set_async(false);  // no save: no checkpoint copy either
  spec.mutable_training()->set_max_steps(3);
  spec.mutable_logging()->set_logging_steps(100);
  spec.mutable_checkpoint()->set_save_at_epoch_end(false);
  spec.mutable_logging()->set_tensorboard(false);
  LocalCommunicator comm;
  testing::RecordingProgress progress;
  auto trainer = Trainer::Create(spec, {}, comm, progress);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  const absl::Status trained = (*trainer)->Run();
  ASSERT_TRUE(trained.ok()) << trained;
  const double peak = static_cast<double>(PeakAllocatedBytes(torch::kCPU));
  const common::MemoryPlan& plan = (*trainer)->memory_plan();
  const double stated = static_cast<double>(plan.total() + plan.host_total());
  std::cout << "d_model " << size.d_model << (size.experts ? " MoE" : " dense")
            << (size.offload ? " offloaded" : "") << ": measured peak " << peak / 1e6
            << " MB, plan " << stated / 1e6 << " MB (ratio " << peak / stated << ")\n";
  EXPECT_NEAR(peak / stated, 1.0, 0.10)
      << "measured " << peak / 1e6 << " MB, planned " << stated / 1e6 << " MB:\n"
      << plan.Table();
  // Every term is there and the activations are a real share, so the check means something.
  EXPECT_GT(plan.activations, stated / 10);
  EXPECT_GT(plan.optimizer + plan.host_optimizer, stated / 10);
  EXPECT_EQ(plan.host_optimizer > 0, size.offload);
  EXPECT_EQ(plan.host_staging, 0);  // a CPU model's new weights are written in place
  // The start log states the plan.
  bool stated_in_log = false;
  for (const std::string& m : progress.messages) {
    stated_in_log |= m.find("memory plan per rank") != std::string::npos &&
                     m.find("activations") != std::string::npos;
  }
  EXPECT_TRUE(stated_in_log);
}

INSTANTIATE_TEST_SUITE_P(Shapes, MeasuredPeak,
                         ::testing::Values(Size{32, 2, 128, 2}, Size{128, 4, 256, 2},
                                           Size{128, 4, 256, 2, /*experts=*/false},
                                           Size{128, 4, 256, 2, true, /*offload=*/true}),
                         [](const auto& info) {
                           const Size& s = info.param;
                           return absl::StrCat("d", s.d_model, "x", s.layers,
                                               s.experts ? "Moe" : "Dense",
                                               s.offload ? "Offloaded" : "");
                         });

TEST(MemoryPlan, ZeroDividesGradientsAndOptimizerStateByTheWorldSize) {
  moe::v1::JobSpec spec = testing::SmallJob(testing::FreshDir("memory_plan_zero"));
  spec.mutable_model()->mutable_config()->set_vocab_size(2048);
  const common::MemoryPlan one = common::PlanMemoryFromSpec(spec, 1),
                           four = common::PlanMemoryFromSpec(spec, 4);
  EXPECT_NEAR(static_cast<double>(four.parameters) / one.parameters, 1.0, 1e-3);
  EXPECT_NEAR(static_cast<double>(four.optimizer) / one.optimizer, 0.25, 1e-3);
  EXPECT_NEAR(static_cast<double>(four.gradients) / one.gradients, 0.25, 1e-3);
  EXPECT_EQ(one.optimizer, 3 * one.gradients);  // master, exp_avg, exp_avg_sq: fp32 each
  EXPECT_EQ(one.activations, four.activations);
  // Replicated: nothing divides.
  spec.mutable_zero()->set_stage(0);
  EXPECT_EQ(common::PlanMemoryFromSpec(spec, 4).optimizer,
            common::PlanMemoryFromSpec(spec, 1).optimizer);
  // bf16 halves the parameters and the blocks' activations, not the fp32 state (nor the
  // fp32 loss over the vocabulary: a wide model shows the difference).
  spec.mutable_zero()->set_stage(2);
  spec.mutable_model()->mutable_config()->set_d_model(512);
  const common::MemoryPlan fp32 = common::PlanMemoryFromSpec(spec, 1);
  spec.mutable_model()->set_precision(moe::v1::PRECISION_BF16);
  const common::MemoryPlan bf16 = common::PlanMemoryFromSpec(spec, 1);
  EXPECT_EQ(bf16.parameters * 2, fp32.parameters);
  EXPECT_EQ(bf16.optimizer, fp32.optimizer);
  EXPECT_LT(bf16.activations, fp32.activations);
}

TEST(MemoryPlan, ActivationCheckpointingKeepsOnlyBlockInputs) {
  moe::v1::JobSpec spec = testing::SmallJob(testing::FreshDir("memory_plan_ckpt"));
  moe::v1::MptConfig config = spec.model().config();
  config.set_vocab_size(2048);
  config.set_n_layers(8);
  const int64_t full = common::ActivationBytes(config, spec.model().moe(), 4, 128, 4, false);
  const int64_t kept = common::ActivationBytes(config, spec.model().moe(), 4, 128, 4, true);
  EXPECT_LT(kept, full);
  // Doubling the layers doubles the per-block part only.
  config.set_n_layers(16);
  const int64_t full16 = common::ActivationBytes(config, spec.model().moe(), 4, 128, 4, false);
  const int64_t kept16 = common::ActivationBytes(config, spec.model().moe(), 4, 128, 4, true);
  EXPECT_GT(full16 - full, 4 * (kept16 - kept));
}

}  // namespace
}  // namespace moe::worker
