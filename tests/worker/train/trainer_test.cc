// The trainer end to end in-process: loss falls on the sample data, checkpoints are written
// as the spec says, damaged checkpoints are never loaded, retention keeps the right set, and
// a checkpoint of another model is refused.
#include "worker/train/trainer.h"

#include <fstream>

#include "common/exit_codes.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/train_test_util.h"
#include "worker/parallel/communicator.h"

namespace moe::worker {
namespace {

using testing::FreshDir;
using ::testing::HasSubstr;
using testing::RecordingProgress;
using testing::SmallJob;
namespace fs = std::filesystem;

absl::Status Train(const moe::v1::JobSpec& spec, TrainOptions options = {},
                   RecordingProgress* progress = nullptr) {
  LocalCommunicator comm;
  RecordingProgress local;
  auto trainer = Trainer::Create(spec, options, comm, progress ? *progress : local);
  if (!trainer.ok()) return trainer.status();
  return (*trainer)->Run();
}

std::vector<std::string> Names(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(Trainer, LossFallsOnTheSampleDataWithinAFewDozenSteps) {
  moe::v1::JobSpec spec = SmallJob(FreshDir("loss"));
  spec.mutable_training()->set_epochs(6);  // about 35 steps
  spec.mutable_training()->set_learning_rate(3e-3);
  RecordingProgress progress;
  ASSERT_TRUE(Train(spec, {}, &progress).ok());
  ASSERT_GE(progress.steps.size(), 30u);
  auto mean = [](auto begin, auto end) {
    double sum = 0;
    int n = 0;
    for (auto it = begin; it != end; ++it, ++n) sum += it->value(moe::common::kLoss);
    return sum / n;
  };
  const double first = mean(progress.steps.begin(), progress.steps.begin() + 5);
  const double last = mean(progress.steps.end() - 5, progress.steps.end());
  EXPECT_GT(first, std::log(1856.0) - 1.0);  // starts near uniform over the vocabulary
  EXPECT_LT(last, first - 1.5) << "first " << first << " last " << last;
  // Expert load is reported and adds up.
  double share = 0;
  for (double s : progress.steps.back().expert_share) share += s;
  EXPECT_NEAR(share, 1.0, 1e-9);
  EXPECT_EQ(progress.steps.back().expert_share.size(), 4u);
  // Per MoE layer (both blocks of the small model): shares add up, and the layers' routed
  // tokens are the same tokens the whole-model shares count.
  const StepReport& last_report = progress.steps.back();
  ASSERT_EQ(last_report.layers.size(), 2u);
  std::vector<double> mean_share(4, 0);
  for (size_t l = 0; l < 2; ++l) {
    const LayerReport& layer = last_report.layers[l];
    EXPECT_EQ(layer.layer, static_cast<int>(l));
    double sum = 0;
    for (size_t e = 0; e < 4; ++e) {
      sum += layer.expert_share[e];
      mean_share[e] += layer.expert_share[e] / 2;
    }
    EXPECT_NEAR(sum, 1.0, 1e-9);
    EXPECT_EQ(layer.values[moe::common::kDroppedFraction], 0);  // dropless
    EXPECT_GT(*layer.values[moe::common::kRouterEntropy], 0);
    EXPECT_LE(*layer.values[moe::common::kRouterEntropy], std::log(4.0) + 1e-9);
    EXPECT_GT(*layer.values[moe::common::kLoadBalanceLoss], 0);
    EXPECT_GT(*layer.values[moe::common::kLabelLoss], 0);  // label-guided routing
  }
  for (size_t e = 0; e < 4; ++e) EXPECT_NEAR(mean_share[e], last_report.expert_share[e], 1e-9);
  EXPECT_GT(last_report.value(moe::common::kSamplesPerSecond), 0);
  EXPECT_GT(last_report.value(moe::common::kStepSeconds), 0);
  EXPECT_FALSE(last_report.values[moe::common::kModelFlopsUtilization]);  // CPU: no known peak
}

TEST(Trainer, ReportsTheLabelLossOfLabelGuidedRoutingAndTheFlopsUtilisationOfAKnownPeak) {
  moe::v1::JobSpec spec = SmallJob(FreshDir("label_loss"));
  spec.mutable_training()->set_epochs(6);
  spec.mutable_training()->set_learning_rate(3e-3);
  spec.mutable_model()->mutable_moe()->set_routing(moe::v1::ROUTING_MODE_LABEL_GUIDED);
  setenv("MOE_PEAK_FLOPS", "1e9", 1);
  RecordingProgress progress;
  const absl::Status trained = Train(spec, {}, &progress);
  unsetenv("MOE_PEAK_FLOPS");
  ASSERT_TRUE(trained.ok()) << trained;
  ASSERT_GE(progress.steps.size(), 30u);
  auto label_loss = [](const StepReport& r) {
    double sum = 0;
    for (const LayerReport& layer : r.layers) sum += *layer.values[moe::common::kLabelLoss];
    return sum / r.layers.size();
  };
  // A cross-entropy over 4 experts: near log 4 from a near-uniform router at the start, and
  // falling as the routers learn the labels the loss guides them to.
  const double first = label_loss(progress.steps.front());
  const double last = label_loss(progress.steps.back());
  EXPECT_GT(first, 0.5 * std::log(4.0));
  EXPECT_LT(first, 2 * std::log(4.0));
  EXPECT_LT(last, first) << "first " << first << " last " << last;
  for (const StepReport& r : progress.steps) {
    ASSERT_TRUE(r.values[moe::common::kModelFlopsUtilization]);
    EXPECT_DOUBLE_EQ(*r.values[moe::common::kModelFlopsUtilization],
                     r.value(moe::common::kModelFlopsPerSecond) / 1e9);  // one rank
  }
}

TEST(ModelFlops, SixActiveParametersPlusAttentionPerToken) {
  // The active parameters counted from the model's own tensors: every parameter, less the
  // experts a token does not visit (E - k of E per MoE layer).
  moe::v1::JobSpec spec = SmallJob(FreshDir("flops"));
  spec.mutable_model()->mutable_moe()->set_top_k(2);
  MptForCausalLM model(spec.model().config(), spec.model().moe());
  const double experts = spec.model().moe().experts_size(), k = 2;
  double active = 0;
  for (const auto& p : model->named_parameters()) {
    const bool expert = p.key().find(".experts.") != std::string::npos;
    active += static_cast<double>(p.value().numel()) * (expert ? k / experts : 1.0);
  }
  const moe::v1::MptConfig& c = spec.model().config();
  EXPECT_DOUBLE_EQ(ModelFlopsPerToken(c, spec.model().moe(), 128),
                   6 * active + 12.0 * c.n_layers() * c.d_model() * 128);
  setenv("MOE_PEAK_FLOPS", "989e12", 1);
  EXPECT_DOUBLE_EQ(*DevicePeakFlops(), 989e12);
  setenv("MOE_PEAK_FLOPS", "fast", 1);
  EXPECT_THAT(std::string(DevicePeakFlops().status().message()),
              HasSubstr("MOE_PEAK_FLOPS='fast'"));
  unsetenv("MOE_PEAK_FLOPS");
  EXPECT_EQ(*DevicePeakFlops(), 0);
}

TEST(GlobalBatch, AccumulationAdaptsToTheWorldSizeOrSaysWhyItCannot) {
  moe::v1::JobSpec spec = SmallJob(FreshDir("global_batch"));
  spec.mutable_training()->set_micro_batch_size(2);
  spec.mutable_training()->set_grad_accumulation(6);
  spec.mutable_resources()->set_world_size(2);  // 24 rows per step
  EXPECT_EQ(*GradAccumulationFor(spec, 1), 12);
  EXPECT_EQ(*GradAccumulationFor(spec, 2), 6);
  EXPECT_EQ(*GradAccumulationFor(spec, 3), 4);
  EXPECT_EQ(*GradAccumulationFor(spec, 12), 1);
  const auto five = GradAccumulationFor(spec, 5);
  EXPECT_EQ(five.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(five.status().message()),
              HasSubstr("global batch of 24 rows (training.micro_batch_size 2 x "
                        "training.grad_accumulation 6 x resources.world_size 2) cannot be split "
                        "over 5 ranks"));
  EXPECT_FALSE(GradAccumulationFor(spec, 24).ok());  // fewer rows than ranks x micro-batch
}

TEST(Trainer, CheckpointsEverySaveStepsAndAtEpochEndAndAtTheEnd) {
  const fs::path out = FreshDir("schedule");
  moe::v1::JobSpec spec = SmallJob(out);
  spec.mutable_checkpoint()->set_save_steps(4);
  RecordingProgress progress;
  ASSERT_TRUE(Train(spec, {}, &progress).ok());
  const int64_t total = progress.steps.back().total_steps;
  int64_t epoch_end = 0;  // the first step reported in epoch 1 ended epoch 0
  for (const StepReport& r : progress.steps) {
    if (r.epoch == 1 && epoch_end == 0) epoch_end = r.step;
  }
  ASSERT_GT(epoch_end, 0);
  std::vector<std::string> expected;
  for (int64_t s = 4; s <= total; s += 4) expected.push_back(CheckpointName(s));
  expected.push_back(CheckpointName(epoch_end));  // end of the first of 2 epochs
  expected.push_back(CheckpointName(total));
  std::sort(expected.begin(), expected.end());
  expected.erase(std::unique(expected.begin(), expected.end()), expected.end());
  EXPECT_EQ(Names(out), expected);
  const fs::path last = out / CheckpointName(total);
  EXPECT_TRUE(VerifyCheckpoint(last).ok());
  EXPECT_THAT(Names(last), ::testing::ElementsAre(
                               "config.json", "manifest.json", "model.safetensors",
                               "optimizer-00000-of-00001.safetensors", "rng_state.safetensors",
                               "tokenizer.json", "training_state.json"));
  auto state = ReadTrainingState(last);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->step, total);
  EXPECT_EQ(state->epoch, 2);
  EXPECT_EQ(state->data_position, 0u);
}

TEST(Checkpoint, DamagedCheckpointsAreNeverLoaded) {
  const fs::path out = FreshDir("damaged");
  moe::v1::JobSpec spec = SmallJob(out);
  spec.mutable_training()->set_max_steps(6);
  spec.mutable_checkpoint()->set_save_steps(2);
  ASSERT_TRUE(Train(spec).ok());
  const fs::path s2 = out / CheckpointName(2), s4 = out / CheckpointName(4),
                 s6 = out / CheckpointName(6);
  // Missing file, flipped byte, no manifest.
  fs::remove(s6 / "optimizer-00000-of-00001.safetensors");
  {
    std::fstream f(s4 / "model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(1000);
    char c;
    f.read(&c, 1);
    f.seekp(1000);
    c = static_cast<char>(c ^ 0x01);
    f.write(&c, 1);
  }
  EXPECT_THAT(std::string(VerifyCheckpoint(s6).message()),
              HasSubstr("optimizer-00000-of-00001.safetensors: missing"));
  EXPECT_THAT(std::string(VerifyCheckpoint(s4).message()),
              HasSubstr("model.safetensors: checksum differs"));
  EXPECT_EQ(VerifyCheckpoint(s2).code(), absl::StatusCode::kOk);
  auto latest = LatestCheckpoint(out);
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(*latest, s2);
  fs::remove(s2 / "manifest.json");
  EXPECT_EQ(VerifyCheckpoint(s2).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(LatestCheckpoint(out).status().code(), absl::StatusCode::kNotFound);
  // Asked for by name, a damaged checkpoint is refused before anything is loaded, as DataLoss
  // (exit code 5: moed sets it aside and resumes from the one before); a missing one is the
  // user's NotFound.
  const absl::Status resumed = Train(spec, {s4.string(), 0});
  EXPECT_EQ(resumed.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(common::ExitCodeFor(resumed), common::kExitBadCheckpoint);
  EXPECT_THAT(std::string(resumed.message()), HasSubstr("checksum differs"));
  EXPECT_EQ(Train(spec, {(out / "checkpoint-step-99").string(), 0}).code(),
            absl::StatusCode::kNotFound);
  // A torn write (only the .tmp directory) is invisible.
  fs::create_directories(out / (CheckpointName(8) + ".tmp"));
  EXPECT_EQ(LatestCheckpoint(out).status().code(), absl::StatusCode::kNotFound);
}

TEST(Checkpoint, RetentionKeepsTheNewestGoodOnes) {
  const fs::path out = FreshDir("retention");
  moe::v1::JobSpec spec = SmallJob(out);
  spec.mutable_training()->set_max_steps(8);
  spec.mutable_checkpoint()->set_save_steps(2);
  spec.mutable_checkpoint()->set_keep_last(2);
  spec.mutable_checkpoint()->set_save_at_epoch_end(false);
  ASSERT_TRUE(Train(spec).ok());
  EXPECT_EQ(Names(out), (std::vector<std::string>{CheckpointName(6), CheckpointName(8)}));
  // A damaged newest checkpoint does not count: the two newest good ones stay, and so does it.
  spec.mutable_checkpoint()->set_keep_last(0);
  spec.mutable_training()->set_max_steps(12);
  spec.mutable_training()->set_epochs(3);
  ASSERT_TRUE(Train(spec, {"latest", 0}).ok());  // adds 10 and 12
  fs::remove(out / CheckpointName(12) / "manifest.json");
  EXPECT_TRUE(ApplyRetention(out, 1, 4).empty());  // nothing at or below step 4 remains
  const auto deleted = ApplyRetention(out, 2, 12);
  EXPECT_EQ(Names(out),
            (std::vector<std::string>{CheckpointName(10), CheckpointName(12), CheckpointName(8)}));
  EXPECT_EQ(deleted.size(), 1u);  // step 6
}

TEST(Checkpoint, ResumingOnASmallerDataSetIsRefused) {
  const fs::path out = FreshDir("smaller");
  moe::v1::JobSpec spec = SmallJob(out);
  spec.mutable_training()->set_max_steps(4);
  ASSERT_TRUE(Train(spec, {"", 3}).ok());  // stops at step 3, mid-epoch
  spec.mutable_data()->set_max_samples(10);
  const absl::Status status = Train(spec, {"latest", 0});
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()), HasSubstr("but the data set now has 10 samples"));
}

TEST(Checkpoint, ResumingAnotherModelsCheckpointIsRefused) {
  const fs::path out = FreshDir("other");
  moe::v1::JobSpec spec = SmallJob(out);
  spec.mutable_training()->set_max_steps(2);
  ASSERT_TRUE(Train(spec).ok());
  moe::v1::JobSpec bigger = spec;
  bigger.mutable_model()->mutable_config()->set_d_model(64);
  bigger.mutable_training()->set_max_steps(4);
  const absl::Status status = Train(bigger, {"latest", 0});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("was made for a different model"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("d_model"));
  moe::v1::JobSpec fewer_experts = spec;
  fewer_experts.mutable_model()->mutable_moe()->mutable_experts()->RemoveLast();
  fewer_experts.mutable_training()->set_max_steps(4);
  fewer_experts.mutable_model()->mutable_moe()->set_routing(moe::v1::ROUTING_MODE_LEARNED);
  fewer_experts.mutable_data()->set_skip_invalid(true);  // commonsense_reasoning lines drop out
  EXPECT_THAT(std::string(Train(fewer_experts, {"latest", 0}).message()),
              HasSubstr("4 experts vs 3"));
}

}  // namespace
}  // namespace moe::worker
