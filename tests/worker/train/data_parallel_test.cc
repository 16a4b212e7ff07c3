// Data parallel training across processes (Gloo on loopback): 2 ranks with micro-batch 2 see
// the same rows per optimizer step as 1 rank with micro-batch 4, so they must end with the same
// weights (up to summation order) at the same data position.
#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/proto_yaml.h"
#include "gtest/gtest.h"
#include "tests/worker/train/train_test_util.h"
#include "worker/model/safetensors.h"
#include "worker/train/checkpoint.h"

namespace moe::worker {
namespace {

namespace fs = std::filesystem;

fs::path WriteSpec(const fs::path& root, const std::string& run, int micro_batch, int zero_stage,
                   const std::string& output = "") {
  moe::v1::JobSpec spec = testing::SmallJob(root / (output.empty() ? run : output));
  spec.set_name("dp");
  spec.mutable_training()->set_micro_batch_size(micro_batch);
  spec.mutable_training()->set_max_steps(4);
  spec.mutable_zero()->set_stage(zero_stage);
  spec.mutable_checkpoint()->set_save_at_epoch_end(false);
  // The MoE losses are per micro-batch means (nonlinear in which rows share a micro-batch), so
  // only the token-level loss is the same function of the step's rows on 1 and 2 ranks.
  moe::v1::MoeSpec* moe = spec.mutable_model()->mutable_moe();
  moe->set_load_balance_loss_weight(0);
  moe->set_z_loss_weight(0);
  moe->set_label_loss_weight(0);
  const fs::path path = root / (run + ".yaml");
  std::ofstream(path) << common::MessageToYaml(spec);
  return path;
}

// Runs `moe-worker train` on `spec` as `world` ranks on loopback; true if all exit 0.
bool TrainRanks(int world, const fs::path& spec, const std::string& extra = "") {
  static int job = 0;
  const int port = 20000 + (getpid() * 7 + ++job * 13) % 20000;
  std::string command = "sh -c '";
  for (int r = 0; r < world; ++r) {
    absl::StrAppend(&command, "WORLD_SIZE=", world, " MASTER_ADDR=127.0.0.1 MASTER_PORT=", port,
                    " RANK=", r, " ", MOE_WORKER_BIN, " --log-level warn train --spec ",
                    spec.string(), " ", extra, " & p", r, "=$!; ");
  }
  for (int r = 0; r < world; ++r) absl::StrAppend(&command, r ? " && " : "", "wait $p", r);
  absl::StrAppend(&command, "'");
  return std::system(command.c_str()) == 0;
}

// Largest absolute difference between the models of two checkpoints.
double ModelDifference(const fs::path& a_dir, const fs::path& b_dir) {
  auto a = SafetensorsFile::Open(a_dir / "model.safetensors");
  auto b = SafetensorsFile::Open(b_dir / "model.safetensors");
  EXPECT_TRUE(a.ok() && b.ok());
  if (!a.ok() || !b.ok()) return 1e9;
  EXPECT_EQ((*a)->entries().size(), (*b)->entries().size());
  double worst = 0;
  for (const auto& [name, entry] : (*a)->entries()) {
    const torch::Tensor x = *(*a)->Load(name), y = *(*b)->Load(name);
    worst = std::max(worst, (x - y).abs().max().item<double>());
  }
  return worst;
}

class DataParallel : public ::testing::TestWithParam<int> {};  // the ZeRO stage

TEST_P(DataParallel, TwoRanksEqualOneRankWithTwiceTheMicroBatch) {
  const int stage = GetParam();
  const fs::path root = testing::FreshDir(absl::StrCat("dp", stage));
  ASSERT_TRUE(TrainRanks(1, WriteSpec(root, "one", 4, stage)));
  ASSERT_TRUE(TrainRanks(2, WriteSpec(root, "two", 2, stage)));
  const std::string last = CheckpointName(4);
  EXPECT_LT(ModelDifference(root / "one" / last, root / "two" / last), 1e-5);
  auto state = ReadTrainingState(root / "two" / last);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->world_size, 2);
  EXPECT_EQ(state->data_position, ReadTrainingState(root / "one" / last)->data_position);
}

INSTANTIATE_TEST_SUITE_P(ZeroStages, DataParallel, ::testing::Values(0, 2),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return absl::StrCat("stage", info.param);
                         });

TEST(ZeroTwo, ResumesOnADifferentNumberOfRanks) {
  // Uninterrupted on 1 rank; interrupted at step 2 on 2 ranks and finished on 1; and the
  // reverse. The optimizer state is keyed by parameter name, so each continues exactly (up to
  // summation order).
  const fs::path root = testing::FreshDir("zero_resume");
  ASSERT_TRUE(TrainRanks(1, WriteSpec(root, "ref", 4, 2)));
  const fs::path two_then_one_2 = WriteSpec(root, "a2", 2, 2, "a"),
                 two_then_one_1 = WriteSpec(root, "a1", 4, 2, "a");
  ASSERT_TRUE(TrainRanks(2, two_then_one_2, "--stop-after-steps 2"));
  ASSERT_TRUE(TrainRanks(1, two_then_one_1, "--resume-from latest"));
  const fs::path one_then_two_1 = WriteSpec(root, "b1", 4, 2, "b"),
                 one_then_two_2 = WriteSpec(root, "b2", 2, 2, "b");
  ASSERT_TRUE(TrainRanks(1, one_then_two_1, "--stop-after-steps 2"));
  ASSERT_TRUE(TrainRanks(2, one_then_two_2, "--resume-from latest"));
  const std::string last = CheckpointName(4);
  EXPECT_LT(ModelDifference(root / "ref" / last, root / "a" / last), 1e-5);
  EXPECT_LT(ModelDifference(root / "ref" / last, root / "b" / last), 1e-5);
  // The last two steps moved the weights by far more than that tolerance.
  EXPECT_GT(ModelDifference(root / "ref" / last, root / "a" / CheckpointName(2)), 1e-3);

  // The routers train under ZeRO-2 (a DeepSpeed bug once left MoE gates frozen). `init` builds
  // the same starting model; after 2 Adam steps of at most ~lr each, every router element
  // has moved, but by less than 3e-3 (a different start would differ by ~0.1).
  ASSERT_EQ(std::system(absl::StrCat(MOE_WORKER_BIN, " --log-level warn init --spec ",
                                     two_then_one_2.string(), " --out ", (root / "init").string())
                            .c_str()),
            0);
  auto start = SafetensorsFile::Open(root / "init" / "model.safetensors");
  auto after = SafetensorsFile::Open(root / "a" / CheckpointName(2) / "model.safetensors");
  ASSERT_TRUE(start.ok() && after.ok());
  int routers = 0;
  for (const auto& [name, entry] : (*start)->entries()) {
    const double moved = (*(*start)->Load(name) - *(*after)->Load(name)).abs().max().item<double>();
    EXPECT_LT(moved, 3e-3) << name;
    if (name.find("router") == std::string::npos) continue;
    ++routers;
    EXPECT_GT(moved, 1e-5) << name;
  }
  EXPECT_EQ(routers, 2);  // one per MoE layer
}

}  // namespace
}  // namespace moe::worker
