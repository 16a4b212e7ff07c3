// A small, fast job for the training tests: the demo spec with a tiny model and data set,
// writing under a fresh temporary directory.
#ifndef MOE_TESTS_TESTING_TRAIN_TEST_UTIL_H_
#define MOE_TESTS_TESTING_TRAIN_TEST_UTIL_H_

#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/spec_loader.h"
#include "gtest/gtest.h"
#include "moe/v1/job.pb.h"
#include "tests/testing/source_dir.h"
#include "worker/report/progress.h"

namespace moe::worker::testing {

inline std::filesystem::path FreshDir(const std::string& name) {
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) /
                                    ("moe_" + std::to_string(getpid()) + "_" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// The demo job made small: d_model 32, 2 layers, 4 experts, 100 samples, rows of 128 tokens,
// micro-batch 2 x accumulation 2 on one rank (about 10 optimizer steps per epoch).
inline moe::v1::JobSpec SmallJob(const std::filesystem::path& output_dir) {
  auto spec = common::LoadJobSpec(kSourceDir / "configs/jobs/tiny-cpu.yaml");
  EXPECT_TRUE(spec.ok()) << spec.status();
  moe::v1::MptConfig* c = spec->mutable_model()->mutable_config();
  c->set_d_model(32);
  c->set_n_heads(4);
  c->set_n_layers(2);
  c->set_max_seq_len(128);
  spec->mutable_data()->set_max_seq_len(128);
  spec->mutable_data()->set_max_target_len(32);
  spec->mutable_data()->set_max_samples(100);
  spec->mutable_data()->set_eval_fraction(0);
  spec->mutable_training()->set_eval_every(0);
  spec->mutable_checkpoint()->set_save_at_epoch_end(true);
  spec->mutable_training()->set_micro_batch_size(2);
  spec->mutable_training()->set_grad_accumulation(2);
  spec->mutable_resources()->set_world_size(1);
  spec->mutable_training()->set_epochs(2);
  spec->mutable_training()->set_warmup_steps(3);
  spec->mutable_checkpoint()->set_output_dir(output_dir.string());
  spec->mutable_checkpoint()->set_save_steps(0);
  spec->mutable_checkpoint()->set_keep_last(0);
  spec->mutable_logging()->set_logging_steps(1);
  return *spec;
}

// Keeps what the trainer reports.
class RecordingProgress : public ProgressSink {
 public:
  void OnStep(const StepReport& report) override { steps.push_back(report); }
  void OnCheckpoint(const CheckpointReport& c) override { checkpoints.push_back(c.dir); }
  void OnMessage(const std::string& message) override { messages.push_back(message); }
  std::vector<StepReport> steps;
  std::vector<std::string> checkpoints, messages;
};

}  // namespace moe::worker::testing

#endif  // MOE_TESTS_TESTING_TRAIN_TEST_UTIL_H_
