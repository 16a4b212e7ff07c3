// Bit-exact resume, as separate processes like a real interruption: `train` to step 2N, and
// `train --stop-after-steps N` then `train --resume-from latest`, end with byte-identical
// model.safetensors (and optimizer state) at step 2N — in fp32 and bf16, packed and padded,
// resuming mid-epoch and across an epoch boundary.
#include <cstdlib>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/proto_yaml.h"
#include "gtest/gtest.h"
#include "tests/testing/train_test_util.h"
#include "worker/train/checkpoint.h"

namespace moe::worker {
namespace {

namespace fs = std::filesystem;

struct Case {
  std::string name;
  bool bf16, packing;
  int64_t stop;  // N; the run ends at 2N
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

std::string Bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

// Runs `moe-worker train` on `spec`; returns the exit code, and the log in *log if given.
int Train(const fs::path& spec, const std::string& extra, std::string* log = nullptr) {
  const fs::path out = fs::path(spec.string() + ".log");
  const std::string command = absl::StrCat(MOE_WORKER_BIN, " train --spec ", spec.string(), " ",
                                           extra, " > ", out.string(), " 2>&1");
  const int rc = std::system(command.c_str());
  if (log != nullptr) *log = Bytes(out);
  return rc;
}

class BitExactResume : public ::testing::TestWithParam<Case> {};

TEST_P(BitExactResume, InterruptedRunEndsByteIdentical) {
  const Case& c = GetParam();
  const fs::path root = testing::FreshDir("resume_" + c.name);
  auto write_spec = [&](const std::string& run) {
    moe::v1::JobSpec spec = testing::SmallJob(root / run);
    spec.set_name("resume");
    spec.mutable_model()->set_precision(c.bf16 ? moe::v1::PRECISION_BF16 : moe::v1::PRECISION_FP32);
    spec.mutable_data()->set_packing(c.packing);
    if (!c.packing) spec.mutable_data()->set_max_samples(24);  // 12 rows of 2: 6 steps an epoch
    spec.mutable_training()->set_max_steps(2 * c.stop);
    spec.mutable_checkpoint()->set_save_at_epoch_end(false);
    const fs::path path = root / (run + ".yaml");
    std::ofstream(path) << common::MessageToYaml(spec);
    return path;
  };
  const fs::path full = write_spec("full"), split = write_spec("split");
  ASSERT_EQ(Train(full, ""), 0);
  ASSERT_EQ(Train(split, absl::StrCat("--stop-after-steps ", c.stop)), 0);
  auto middle = ReadTrainingState(root / "split" / CheckpointName(c.stop));
  ASSERT_TRUE(middle.ok()) << middle.status();
  std::string log;
  ASSERT_EQ(Train(split, "--resume-from latest", &log), 0);
  // It really continued from step N (a fresh start would also end identical).
  EXPECT_TRUE(
      absl::StrContains(log, absl::StrCat(CheckpointName(c.stop), " at step ", c.stop, ",")))
      << log;

  const std::string last = CheckpointName(2 * c.stop);
  ASSERT_TRUE(VerifyCheckpoint(root / "full" / last).ok());
  ASSERT_TRUE(VerifyCheckpoint(root / "split" / last).ok());
  for (const char* file : {"model.safetensors", "optimizer-00000-of-00001.safetensors"}) {
    EXPECT_EQ(Bytes(root / "full" / last / file), Bytes(root / "split" / last / file)) << file;
  }
  auto end = ReadTrainingState(root / "split" / last);
  ASSERT_TRUE(end.ok());
  // The case resumed where it says: mid-epoch ones within epoch 0, the others past its end.
  if (absl::StrContains(c.name, "mid")) EXPECT_EQ(end->epoch, 0);
  if (absl::StrContains(c.name, "across")) {
    EXPECT_EQ(middle->epoch, 0);
    EXPECT_GE(end->epoch, 1);
  }
  EXPECT_GT(middle->data_position, 0u);
}

INSTANTIATE_TEST_SUITE_P(Matrix, BitExactResume,
                         ::testing::Values(Case{"fp32_packed_mid", false, true, 2},
                                           Case{"fp32_packed_across", false, true, 4},
                                           Case{"fp32_padded_mid", false, false, 2},
                                           Case{"fp32_padded_across", false, false, 4},
                                           Case{"bf16_packed_mid", true, true, 2},
                                           Case{"bf16_packed_across", true, true, 4},
                                           Case{"bf16_padded_mid", true, false, 2},
                                           Case{"bf16_padded_across", true, false, 4}),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace moe::worker
