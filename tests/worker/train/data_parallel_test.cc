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

fs::path WriteSpec(const fs::path& root, const std::string& run, int micro_batch) {
  moe::v1::JobSpec spec = testing::SmallJob(root / run);
  spec.set_name("dp");
  spec.mutable_training()->set_micro_batch_size(micro_batch);
  spec.mutable_training()->set_max_steps(4);
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

TEST(DataParallel, TwoRanksEqualOneRankWithTwiceTheMicroBatch) {
  const fs::path root = testing::FreshDir("dp");
  const fs::path one = WriteSpec(root, "one", 4), two = WriteSpec(root, "two", 2);
  ASSERT_EQ(
      std::system(
          absl::StrCat(MOE_WORKER_BIN, " --log-level warn train --spec ", one.string()).c_str()),
      0);
  const int port = 20000 + getpid() % 20000;
  const std::string launch =
      absl::StrCat("WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=", port, " ");
  const std::string command = absl::StrCat(
      "sh -c '", launch, "RANK=0 ", MOE_WORKER_BIN, " --log-level warn train --spec ", two.string(),
      " & a=$!; ", launch, "RANK=1 ", MOE_WORKER_BIN, " --log-level warn train --spec ",
      two.string(), " & b=$!; ", "wait $a && wait $b'");
  ASSERT_EQ(std::system(command.c_str()), 0) << command;

  const std::string last = CheckpointName(4);
  auto a = SafetensorsFile::Open(root / "one" / last / "model.safetensors");
  auto b = SafetensorsFile::Open(root / "two" / last / "model.safetensors");
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ((*a)->entries().size(), (*b)->entries().size());
  double worst = 0;
  for (const auto& [name, entry] : (*a)->entries()) {
    const torch::Tensor x = *(*a)->Load(name), y = *(*b)->Load(name);
    worst = std::max(worst, (x - y).abs().max().item<double>());
  }
  EXPECT_LT(worst, 1e-5);
  auto state = ReadTrainingState(root / "two" / last);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->world_size, 2);
  EXPECT_EQ(state->data_position, ReadTrainingState(root / "one" / last)->data_position);
}

}  // namespace
}  // namespace moe::worker
