// Data parallel training across real worker processes (Gloo on loopback). The spec plans a
// global batch of 12 rows (micro-batch 1 x accumulation 6 x 2 ranks); on 1, 2, 3 or 4 ranks
// the accumulation adapts (12, 6, 4, 3), so every optimizer step sees the same rows and the
// runs must agree up to fp32 summation order: weights, loss curve and gradient norm. Gradient
// buckets are small (0.01 MiB), so each backward reduces many buckets, some split between
// owners. MoE aux losses are off: they are per-micro-batch means, nonlinear in which rows share
// a micro-batch, so only the token-level loss is the same function of a step's rows.
#include <chrono>
#include <csignal>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/exit_codes.h"
#include "common/proto_yaml.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/launch_ranks.h"
#include "tests/testing/train_test_util.h"
#include "worker/model/safetensors.h"
#include "worker/train/checkpoint.h"

namespace moe::worker {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr double kRelative = 1e-6;

struct JobRun {
  fs::path spec, output, metrics;
};

// A spec under `root`/`name`; `output` names another run's output directory to share it.
// With `offload`, zero.offload_optimizer: cpu.
JobRun WriteSpec(const fs::path& root, const std::string& name, int stage = 2,
                 const std::string& output = "", bool overlap_comm = true, bool offload = false) {
  const fs::path out = root / (output.empty() ? name : output);
  moe::v1::JobSpec spec = testing::SmallJob(out);
  spec.set_name("dp");
  spec.mutable_training()->set_micro_batch_size(1);
  spec.mutable_training()->set_grad_accumulation(6);
  spec.mutable_resources()->set_world_size(2);
  spec.mutable_resources()->set_threads_per_worker(1);
  spec.mutable_training()->set_max_steps(4);
  spec.mutable_training()->set_max_grad_norm(0.5);
  spec.mutable_zero()->set_stage(stage);
  spec.mutable_zero()->set_bucket_mb(0.01);
  spec.mutable_zero()->set_overlap_comm(overlap_comm);
  if (offload) spec.mutable_zero()->set_offload_optimizer(moe::v1::OFFLOAD_DEVICE_CPU);
  spec.mutable_checkpoint()->set_save_at_epoch_end(false);
  spec.mutable_checkpoint()->set_save_steps(2);
  moe::v1::MoeSpec* moe = spec.mutable_model()->mutable_moe();
  moe->set_load_balance_loss_weight(0);
  moe->set_z_loss_weight(0);
  moe->set_label_loss_weight(0);
  const JobRun run{root / (name + ".yaml"), out, root / (name + ".jsonl")};
  std::ofstream(run.spec) << common::MessageToYaml(spec);
  return run;
}

// `moe-worker train` of `run` on `world` ranks; true if every rank exits 0.
bool Train(int world, const JobRun& run, const std::string& extra = "") {
  return testing::AllSucceed(testing::LaunchRanks(
      absl::StrCat(MOE_WORKER_BIN, " --log-level warn train --spec ", run.spec.string(),
                   " --metrics-file ", run.metrics.string(), " ", extra),
      world));
}

struct StepLine {
  int64_t step;
  double loss, grad_norm;
};

std::vector<StepLine> Steps(const JobRun& run) {
  std::vector<StepLine> steps;
  std::ifstream in(run.metrics);
  for (std::string line; std::getline(in, line);) {
    const auto json = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (json.is_object() && json["event"] == "step")
      steps.push_back({json["step"], json["loss"], json["grad_norm"]});
  }
  return steps;
}

// The largest, over tensors, of ||a - b|| / ||a|| between the models of two checkpoints. (Not
// element-wise: Adam divides by the gradient's magnitude, so an element whose gradient is
// nearly zero can turn fp32 summation noise into a change of ~1e-6 of the tensor's scale.)
double ModelDifference(const fs::path& a_dir, const fs::path& b_dir) {
  auto a = SafetensorsFile::Open(a_dir / "model.safetensors");
  auto b = SafetensorsFile::Open(b_dir / "model.safetensors");
  EXPECT_TRUE(a.ok() && b.ok());
  if (!a.ok() || !b.ok()) return 1e9;
  EXPECT_EQ((*a)->entries().size(), (*b)->entries().size());
  double worst = 0;
  for (const auto& [name, entry] : (*a)->entries()) {
    const torch::Tensor x = *(*a)->Load(name), y = *(*b)->Load(name);
    worst = std::max(worst, ((x - y).norm() / x.norm()).item<double>());
  }
  return worst;
}

// A checkpoint's optimizer state reassembled by name ("master/NAME", ...: the full flattened
// parameter) from all its shards, and each shard's number of elements.
struct OptimizerFiles {
  std::map<std::string, torch::Tensor> state;
  std::vector<int64_t> shard_elements;
};

OptimizerFiles ReadOptimizer(const fs::path& dir) {
  OptimizerFiles files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename().string().rfind("optimizer-", 0) != 0) continue;
    auto file = SafetensorsFile::Open(entry.path());
    EXPECT_TRUE(file.ok()) << file.status();
    if (!file.ok()) continue;
    const auto ranges = nlohmann::json::parse((*file)->metadata().at("ranges"));
    int64_t elements = 0;
    for (const auto& [name, info] : (*file)->entries()) {
      const torch::Tensor part = *(*file)->Load(name);
      const std::string parameter = name.substr(name.find('/') + 1);
      const int64_t first = ranges.at(parameter)[0], last = ranges.at(parameter)[1];
      torch::Tensor& full = files.state[name];
      if (full.numel() < last) {
        torch::Tensor grown = torch::full({last}, NAN, torch::kFloat32);
        if (full.defined()) grown.narrow(0, 0, full.numel()).copy_(full);
        full = grown;
      }
      full.narrow(0, first, last - first).copy_(part);
      elements += part.numel();
    }
    files.shard_elements.push_back(elements);
  }
  return files;
}

void ExpectSameOptimizerState(const fs::path& a, const fs::path& b) {
  const OptimizerFiles x = ReadOptimizer(a), y = ReadOptimizer(b);
  ASSERT_EQ(x.state.size(), y.state.size());
  for (const auto& [name, tensor] : x.state) {
    ASSERT_TRUE(y.state.count(name)) << name;
    EXPECT_TRUE(torch::equal(tensor, y.state.at(name))) << name << " differs";
  }
}

bool SameBytes(const fs::path& a, const fs::path& b) {
  std::ifstream x(a, std::ios::binary), y(b, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(x), {}) ==
         std::string(std::istreambuf_iterator<char>(y), {});
}

TEST(ZeroTwo, OneToFourRanksTrainTheSameModel) {
  const fs::path root = testing::FreshDir("zero_worlds");
  std::map<int, JobRun> runs;
  for (int world : {1, 2, 3, 4}) {
    runs[world] = WriteSpec(root, absl::StrCat("w", world));
    ASSERT_TRUE(Train(world, runs[world]));
  }
  const std::string last = CheckpointName(4);
  const std::vector<StepLine> reference = Steps(runs[1]);
  ASSERT_EQ(reference.size(), 4u);
  EXPECT_GT(reference[0].grad_norm, 0.5);  // so clipping acts, on the norm compared here
  const OptimizerFiles single = ReadOptimizer(runs[1].output / last);
  const int64_t all_elements = single.shard_elements.at(0);
  for (int world : {2, 3, 4}) {
    SCOPED_TRACE(absl::StrCat(world, " ranks"));
    EXPECT_LT(ModelDifference(runs[1].output / last, runs[world].output / last), kRelative);
    const std::vector<StepLine> steps = Steps(runs[world]);
    ASSERT_EQ(steps.size(), reference.size());
    for (size_t i = 0; i < steps.size(); ++i) {
      EXPECT_EQ(steps[i].step, reference[i].step);
      EXPECT_NEAR(steps[i].loss, reference[i].loss, kRelative * reference[i].loss);
      EXPECT_NEAR(steps[i].grad_norm, reference[i].grad_norm, kRelative * reference[i].grad_norm);
    }
    // Each rank keeps 1/N of the optimizer state (the padding of the last partition aside).
    const OptimizerFiles sharded = ReadOptimizer(runs[world].output / last);
    ASSERT_EQ(sharded.shard_elements.size(), static_cast<size_t>(world));
    int64_t total = 0;
    for (int64_t elements : sharded.shard_elements) {
      EXPECT_LE(elements, all_elements / world + 3 * 2 * world);  // 3 tensors, padding < 2N
      total += elements;
    }
    EXPECT_EQ(total, all_elements);
    auto state = ReadTrainingState(runs[world].output / last);
    ASSERT_TRUE(state.ok());
    EXPECT_EQ(state->world_size, world);
    EXPECT_EQ(state->data_position, ReadTrainingState(runs[1].output / last)->data_position);
  }
  // The four runs did train: the last two steps moved the weights far beyond the tolerance.
  EXPECT_GT(ModelDifference(runs[1].output / last, runs[1].output / CheckpointName(2)), 1e-3);
}

TEST(PlainDataParallel, TwoRanksTrainTheSameModelAsOne) {
  const fs::path root = testing::FreshDir("dp_stage0");
  const JobRun one = WriteSpec(root, "one", 0), two = WriteSpec(root, "two", 0);
  ASSERT_TRUE(Train(1, one));
  ASSERT_TRUE(Train(2, two));
  const std::string last = CheckpointName(4);
  EXPECT_LT(ModelDifference(one.output / last, two.output / last), kRelative);
  // Without ZeRO every rank holds the whole optimizer state; rank 0's shard is all of it.
  EXPECT_EQ(ReadOptimizer(two.output / last).shard_elements.at(0),
            ReadOptimizer(one.output / last).shard_elements.at(0));
}

TEST(ZeroTwo, ResumeOnTheSameRanksIsByteIdentical) {
  // The interrupted run also waits for each bucket's reduction instead of overlapping them
  // with backward: the same sums in the same order, so that changes no bit either.
  const fs::path root = testing::FreshDir("zero_same");
  const JobRun whole = WriteSpec(root, "whole"),
               first = WriteSpec(root, "first", 2, "cut", /*overlap_comm=*/false),
               rest = WriteSpec(root, "rest", 2, "cut", /*overlap_comm=*/false);
  ASSERT_TRUE(Train(2, whole));
  ASSERT_TRUE(Train(2, first, "--stop-after-steps 2"));
  ASSERT_TRUE(Train(2, rest, "--resume-from latest"));
  const std::string last = CheckpointName(4);
  for (const char* file : {"model.safetensors", "optimizer-00000-of-00002.safetensors",
                           "optimizer-00001-of-00002.safetensors"}) {
    EXPECT_TRUE(SameBytes(whole.output / last / file, rest.output / last / file)) << file;
  }
}

TEST(ZeroOffload, TrainsTheSameModelAsTheOptimizerOnTheDevice) {
  // The fused host AdamW step and the host gradient partition against the tensor path, on one
  // and two ranks: the same losses, gradient norms, weights and optimizer state up to fp32
  // rounding.
  const fs::path root = testing::FreshDir("zero_offload");
  for (int world : {1, 2}) {
    SCOPED_TRACE(absl::StrCat(world, " ranks"));
    const JobRun device = WriteSpec(root, absl::StrCat("device", world)),
                 host = WriteSpec(root, absl::StrCat("host", world), 2, "", true, true);
    ASSERT_TRUE(Train(world, device));
    ASSERT_TRUE(Train(world, host));
    const std::vector<StepLine> expected = Steps(device), got = Steps(host);
    ASSERT_EQ(got.size(), 4u);
    ASSERT_EQ(got.size(), expected.size());
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_NEAR(got[i].loss, expected[i].loss, kRelative * expected[i].loss);
      EXPECT_NEAR(got[i].grad_norm, expected[i].grad_norm, kRelative * expected[i].grad_norm);
    }
    const std::string last = CheckpointName(4);
    EXPECT_LT(ModelDifference(device.output / last, host.output / last), kRelative);
    const OptimizerFiles a = ReadOptimizer(device.output / last),
                         b = ReadOptimizer(host.output / last);
    ASSERT_EQ(a.state.size(), b.state.size());
    for (const auto& [name, tensor] : a.state) {
      const torch::Tensor other = b.state.at(name);
      EXPECT_LT(((tensor - other).norm() / tensor.norm().clamp_min(1e-30)).item<double>(),
                kRelative)
          << name;
    }
    EXPECT_GT(ModelDifference(host.output / last, host.output / CheckpointName(2)), 1e-3);
  }
}

// {from ranks, to ranks, offload before, offload after}.
using ElasticCase = std::tuple<int, int, bool, bool>;
class ElasticResume : public ::testing::TestWithParam<ElasticCase> {};

TEST_P(ElasticResume, RestoresStateExactlyThenFollowsTheUninterruptedRun) {
  const auto [from, to, offload_before, offload_after] = GetParam();
  const fs::path root = testing::FreshDir(
      absl::StrCat("elastic_", from, "_", to, "_", offload_before, offload_after));
  const JobRun reference = WriteSpec(root, "reference"),
               before = WriteSpec(root, "before", 2, "", true, offload_before),
               restored = WriteSpec(root, "restored", 2, "", true, offload_after),
               after = WriteSpec(root, "after", 2, "restored", true, offload_after);
  ASSERT_TRUE(Train(1, reference));
  ASSERT_TRUE(Train(from, before, "--stop-after-steps 2"));
  // Resumed on `to` ranks and stopped at once: the re-saved state is the saved one, exactly.
  const fs::path saved = before.output / CheckpointName(2);
  ASSERT_TRUE(
      Train(to, restored, absl::StrCat("--resume-from ", saved.string(), " --stop-after-steps 2")));
  const fs::path resaved = restored.output / CheckpointName(2);
  ExpectSameOptimizerState(saved, resaved);
  EXPECT_TRUE(SameBytes(saved / "model.safetensors", resaved / "model.safetensors"));
  EXPECT_EQ(ReadOptimizer(resaved).shard_elements.size(), static_cast<size_t>(to));
  EXPECT_EQ(ReadTrainingState(resaved)->data_position, ReadTrainingState(saved)->data_position);
  // Then it carries on at the new size as the uninterrupted run did.
  ASSERT_TRUE(Train(to, after, "--resume-from latest"));
  const std::string last = CheckpointName(4);
  EXPECT_LT(ModelDifference(reference.output / last, after.output / last), kRelative);
  EXPECT_GT(ModelDifference(reference.output / last, saved), 1e-3);
}

// The last two move a checkpoint between the optimizer on the device and offloaded.
INSTANTIATE_TEST_SUITE_P(
    WorldSizes, ElasticResume,
    ::testing::Values(ElasticCase{2, 1, false, false}, ElasticCase{1, 2, false, false},
                      ElasticCase{2, 3, false, false}, ElasticCase{2, 1, true, false},
                      ElasticCase{1, 2, false, true}),
    [](const auto& info) {
      const ElasticCase& c = info.param;
      return absl::StrCat(std::get<0>(c), std::get<2>(c) ? "offloaded" : "", "to", std::get<1>(c),
                          std::get<3>(c) ? "offloaded" : "");
    });

TEST(ZeroTwo, RoutersTrain) {
  // A DeepSpeed bug once left MoE gates frozen under ZeRO-2. `init` builds the same starting
  // model as training; after 2 Adam steps of at most ~lr each, every router has moved, but by
  // less than 3e-3 (a different start would differ by ~0.1).
  const fs::path root = testing::FreshDir("zero_routers");
  const JobRun run = WriteSpec(root, "run");
  ASSERT_TRUE(Train(2, run, "--stop-after-steps 2"));
  ASSERT_EQ(std::system(absl::StrCat(MOE_WORKER_BIN, " --log-level warn init --spec ",
                                     run.spec.string(), " --out ", (root / "init").string())
                            .c_str()),
            0);
  auto start = SafetensorsFile::Open(root / "init" / "model.safetensors");
  auto after = SafetensorsFile::Open(run.output / CheckpointName(2) / "model.safetensors");
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

TEST(ZeroTwo, ARankThatDiesStopsTheOthersInsteadOfHanging) {
  const fs::path root = testing::FreshDir("zero_death");
  const JobRun run = WriteSpec(root, "run");
  auto loaded = common::LoadJobSpec(run.spec);
  ASSERT_TRUE(loaded.ok());
  loaded->mutable_training()->set_max_steps(100000);
  loaded->mutable_training()->set_epochs(1000);
  std::ofstream(run.spec) << common::MessageToYaml(*loaded);
  const auto ranks = testing::LaunchRanks(
      absl::StrCat(MOE_WORKER_BIN, " --log-level warn train --spec ", run.spec.string(),
                   " --metrics-file ", run.metrics.string()),
      3, {0, 1, 2}, testing::FreePort(), /*timeout_s=*/30);
  // Once training runs, kill rank 1 as a crash would.
  for (int i = 0; i < 600 && Steps(run).empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_FALSE(Steps(run).empty()) << testing::Output(ranks[0]);
  const auto killed = std::chrono::steady_clock::now();
  kill(ranks[1].pid, SIGKILL);
  EXPECT_EQ(testing::WaitExit(ranks[1]), 128 + SIGKILL);
  for (int r : {0, 2}) {
    EXPECT_NE(testing::WaitExit(ranks[r]), 0) << testing::Output(ranks[r]);
    EXPECT_THAT(testing::Output(ranks[r]), HasSubstr("training step"));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - killed, std::chrono::seconds(40));
}

TEST(ZeroTwo, SigtermStopsEveryRankAtOneStepWithACheckpointThatResumesExactly) {
  const fs::path root = testing::FreshDir("zero_sigterm");
  auto respec = [](const JobRun& run) {
    auto spec = common::LoadJobSpec(run.spec);
    ASSERT_TRUE(spec.ok());
    spec->mutable_training()->set_grad_accumulation(1);
    spec->mutable_training()->set_max_steps(40);
    spec->mutable_checkpoint()->set_save_steps(0);
    std::ofstream(run.spec) << common::MessageToYaml(*spec);
  };
  const JobRun whole = WriteSpec(root, "whole"), first = WriteSpec(root, "first", 2, "cut"),
               rest = WriteSpec(root, "rest", 2, "cut");
  for (const JobRun* run : {&whole, &first, &rest}) respec(*run);
  ASSERT_TRUE(Train(2, whole));
  const auto ranks =
      testing::LaunchRanks(absl::StrCat(MOE_WORKER_BIN, " train --spec ", first.spec.string(),
                                        " --metrics-file ", first.metrics.string()),
                           2, {0, 1}, testing::FreePort(), /*timeout_s=*/60);
  for (int i = 0; i < 600 && Steps(first).size() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(ranks[1].pid, SIGTERM);  // one rank is told; both stop at the step they agree on
  for (const auto& rank : ranks) {
    EXPECT_EQ(testing::WaitExit(rank), 3) << testing::Output(rank);
  }
  EXPECT_THAT(testing::Output(ranks[0]), HasSubstr("stopped on request at step "));
  const auto latest = LatestCheckpoint(first.output);
  ASSERT_TRUE(latest.ok()) << latest.status();
  const int64_t stopped = ReadTrainingState(*latest)->step;
  EXPECT_GE(stopped, 2);
  EXPECT_LT(stopped, 40);
  ASSERT_TRUE(Train(2, rest, "--resume-from latest"));
  const std::string last = CheckpointName(40);
  EXPECT_TRUE(SameBytes(whole.output / last / "model.safetensors",
                        rest.output / last / "model.safetensors"));
}

TEST(ZeroTwo, AStopThatCannotCommitWithinItsGraceExitsWithoutCommitting) {
  // Rank 1 is frozen (SIGSTOP), so rank 0, told to stop, cannot agree on a stop step with it:
  // past its grace period it exits with code 4 and commits nothing; the checkpoint before
  // stands and still verifies.
  const fs::path root = testing::FreshDir("zero_stop_grace");
  const JobRun run = WriteSpec(root, "run");
  auto spec = common::LoadJobSpec(run.spec);
  ASSERT_TRUE(spec.ok());
  spec->mutable_training()->set_grad_accumulation(1);
  spec->mutable_training()->set_max_steps(100000);
  spec->mutable_training()->set_epochs(1000);
  spec->mutable_checkpoint()->set_save_steps(2);
  std::ofstream(run.spec) << common::MessageToYaml(*spec);
  const auto ranks = testing::LaunchRanks(
      absl::StrCat(MOE_WORKER_BIN, " train --stop-grace 1 --spec ", run.spec.string(),
                   " --metrics-file ", run.metrics.string()),
      2, {0, 1}, testing::FreePort(), /*timeout_s=*/60);
  for (int i = 0; i < 600 && !LatestCheckpoint(run.output).ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(ranks[1].pid, SIGSTOP);
  // Rank 0 may still be finishing a commit both ranks had agreed on; let it.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const auto before = LatestCheckpoint(run.output);
  ASSERT_TRUE(before.ok()) << before.status();
  const auto told = std::chrono::steady_clock::now();
  kill(ranks[0].pid, SIGTERM);
  EXPECT_EQ(testing::WaitExit(ranks[0]), 4) << testing::Output(ranks[0]);
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - told).count();
  EXPECT_GE(took, 1.0);
  EXPECT_LT(took, 10.0);
  EXPECT_THAT(testing::Output(ranks[0]), HasSubstr("the previous checkpoint stands"));
  kill(ranks[1].pid, SIGKILL);
  kill(ranks[1].pid, SIGCONT);
  testing::WaitExit(ranks[1]);
  const auto after = LatestCheckpoint(run.output);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(*after, *before);
}

// A small tmpfs mounted for one test (a real disk that fills up); unmounted when destroyed.
class SmallDisk {
 public:
  explicit SmallDisk(const fs::path& dir) : dir_(dir) {
    fs::create_directories(dir);
    mounted_ =
        std::system(absl::StrCat("mount -t tmpfs -o size=16m tmpfs ", dir.string(), " 2>/dev/null")
                        .c_str()) == 0;
  }
  ~SmallDisk() {
    if (mounted_) (void)std::system(absl::StrCat("umount -l ", dir_.string()).c_str());
  }
  bool mounted() const { return mounted_; }
  // Writes `path` until the disk is full.
  static void Fill(const fs::path& path) {
    std::ofstream out(path, std::ios::binary);
    const std::string chunk(1 << 16, 'x');
    while (out.write(chunk.data(), chunk.size())) {
    }
  }

 private:
  fs::path dir_;
  bool mounted_ = false;
};

TEST(ZeroTwo, ADiskFullSaveFailsLoudlyAndTrainingGoesOnFromThePreviousCheckpoint) {
  const fs::path root = testing::FreshDir("zero_disk_full");
  SmallDisk disk(root / "disk");
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root)";
  const JobRun reference = WriteSpec(root, "reference");
  const JobRun run = WriteSpec(root, "run", 2, "disk/out");
  for (const JobRun* r : {&reference, &run}) {
    auto spec = common::LoadJobSpec(r->spec);
    ASSERT_TRUE(spec.ok());
    spec->mutable_training()->set_grad_accumulation(1);
    spec->mutable_training()->set_max_steps(150);
    spec->mutable_training()->set_epochs(100);
    spec->mutable_checkpoint()->set_save_steps(2);
    spec->mutable_checkpoint()->set_keep_last(2);
    spec->mutable_logging()->set_tensorboard(false);
    std::ofstream(r->spec) << common::MessageToYaml(*spec);
  }
  ASSERT_TRUE(Train(2, reference));
  const auto ranks =
      testing::LaunchRanks(absl::StrCat(MOE_WORKER_BIN, " train --spec ", run.spec.string(),
                                        " --metrics-file ", run.metrics.string()),
                           2, {0, 1}, testing::FreePort(), /*timeout_s=*/60);
  for (int i = 0; i < 1000 && !LatestCheckpoint(run.output).ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const fs::path filler = root / "disk" / "filler";
  SmallDisk::Fill(filler);
  auto failures = [&] {
    std::vector<nlohmann::json> failed;
    std::ifstream in(run.metrics);
    for (std::string line; std::getline(in, line);) {
      const auto json = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (json.is_object() && json["event"] == "checkpoint_failed") failed.push_back(json);
    }
    return failed;
  };
  for (int i = 0; i < 1000 && failures().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const int64_t steps_at_failure = Steps(run).empty() ? 0 : Steps(run).back().step;
  fs::remove(filler);  // space again: the next save succeeds
  for (const auto& rank : ranks) EXPECT_EQ(testing::WaitExit(rank), 0) << testing::Output(rank);
  const auto failed = failures();
  ASSERT_FALSE(failed.empty()) << "no save failed";
  EXPECT_LT(steps_at_failure, 150) << "the disk filled too late to test anything";
  EXPECT_THAT(failed[0]["error"].get<std::string>(), HasSubstr("No space left on device"));
  EXPECT_THAT(testing::Output(ranks[0]), HasSubstr("FAILED, training goes on"));
  // The failed save left nothing behind, every checkpoint there verifies, and the run ends as
  // the one that never ran out of space.
  for (const auto& entry : fs::directory_iterator(run.output)) {
    EXPECT_FALSE(absl::EndsWith(entry.path().string(), ".tmp")) << entry.path();
  }
  for (const auto& [step, dir] : common::CheckpointDirs(run.output)) {
    EXPECT_TRUE(VerifyCheckpoint(dir).ok()) << dir;
  }
  const std::string last = CheckpointName(150);
  EXPECT_TRUE(SameBytes(reference.output / last / "model.safetensors",
                        run.output / last / "model.safetensors"));
}

TEST(ZeroTwo, ACheckpointOneRankCannotWriteFailsOnEveryRank) {
  // The output directory is a file: rank 0 cannot prepare the checkpoint. The other rank must
  // learn it at once (not wait at a barrier for the timeout) and nothing is committed.
  const fs::path root = testing::FreshDir("zero_save_fails");
  const JobRun run = WriteSpec(root, "run");
  std::ofstream(run.output) << "not a directory";
  const auto start = std::chrono::steady_clock::now();
  const auto ranks = testing::LaunchRanks(
      absl::StrCat(MOE_WORKER_BIN, " --log-level warn train --spec ", run.spec.string()), 2, {0, 1},
      testing::FreePort(), /*timeout_s=*/60);
  for (const auto& rank : ranks) EXPECT_NE(testing::WaitExit(rank), 0) << testing::Output(rank);
  EXPECT_THAT(testing::Output(ranks[1]), HasSubstr("1 other rank(s) failed to write their part"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(50));
  EXPECT_TRUE(fs::is_regular_file(run.output));
}

// The checkpoint events ("checkpoint" or "checkpoint_failed") of a run's metrics file.
std::vector<nlohmann::json> Events(const JobRun& run, const std::string& kind) {
  std::vector<nlohmann::json> events;
  std::ifstream in(run.metrics);
  for (std::string line; std::getline(in, line);) {
    const auto json = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (json.is_object() && json["event"] == kind) events.push_back(json);
  }
  return events;
}

// Rewrites a run's spec.
void Respec(const JobRun& run, const std::function<void(moe::v1::JobSpec&)>& change) {
  auto spec = common::LoadJobSpec(run.spec);
  ASSERT_TRUE(spec.ok()) << spec.status();
  change(*spec);
  std::ofstream(run.spec) << common::MessageToYaml(*spec);
}

// A run that trains until stopped, saving every `save_steps` steps.
void Endless(const JobRun& run, uint32_t save_steps) {
  Respec(run, [&](moe::v1::JobSpec& spec) {
    spec.mutable_training()->set_grad_accumulation(1);
    spec.mutable_training()->set_max_steps(100000);
    spec.mutable_training()->set_epochs(1000);
    spec.mutable_checkpoint()->set_save_steps(save_steps);
    spec.mutable_logging()->set_tensorboard(false);
  });
}

// A committed checkpoint's size in bytes (all its files).
uint64_t CheckpointBytes(const fs::path& dir) {
  uint64_t bytes = 0;
  for (const auto& entry : fs::directory_iterator(dir)) bytes += entry.file_size();
  return bytes;
}

// The `.tmp` directories (saves being written) under `dir`.
std::vector<fs::path> SavesInFlight(const fs::path& dir) {
  std::vector<fs::path> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (absl::EndsWith(entry.path().string(), ".tmp")) found.push_back(entry.path());
  }
  return found;
}

TEST(AsyncCheckpoints, WriteTheSameFilesAsSynchronousSaves) {
  // Step 2's save is periodic (in the background for `async`), step 4's the final one (always
  // synchronous). Both runs must write the same bytes; the background one's manifest (hashed
  // as written) must verify against the files.
  const fs::path root = testing::FreshDir("async_same");
  const JobRun sync = WriteSpec(root, "sync"), async = WriteSpec(root, "async");
  Respec(sync, [](moe::v1::JobSpec& spec) { spec.mutable_checkpoint()->set_async(false); });
  Respec(async, [](moe::v1::JobSpec& spec) { spec.mutable_checkpoint()->set_async(true); });
  ASSERT_TRUE(Train(2, sync));
  ASSERT_TRUE(Train(2, async));
  for (int64_t step : {2, 4}) {
    SCOPED_TRACE(absl::StrCat("step ", step));
    const fs::path a = sync.output / CheckpointName(step), b = async.output / CheckpointName(step);
    EXPECT_TRUE(VerifyCheckpoint(b).ok()) << VerifyCheckpoint(b);
    for (const char* file : {"model.safetensors", "optimizer-00000-of-00002.safetensors",
                             "optimizer-00001-of-00002.safetensors", "rng_state.safetensors",
                             "config.json", "tokenizer.json"}) {
      EXPECT_TRUE(SameBytes(a / file, b / file)) << file;
    }
  }
  const auto saves = Events(async, "checkpoint");
  ASSERT_EQ(saves.size(), 2u);
  EXPECT_EQ(saves[0]["step"], 2);
  EXPECT_TRUE(saves[0]["async"].get<bool>());
  EXPECT_FALSE(saves[1]["async"].get<bool>());
  for (const auto& save : Events(sync, "checkpoint")) EXPECT_FALSE(save["async"].get<bool>());
}

// MOE_FAULT_WRITE_BYTES_PER_S for every rank, so that each save takes about `seconds` for a
// checkpoint of `bytes` (rank 0 writes most of it).
std::string SlowDisk(uint64_t bytes, double seconds) {
  return absl::StrCat("env MOE_FAULT_WRITE_BYTES_PER_S=", static_cast<uint64_t>(bytes / seconds),
                      " ");
}

TEST(AsyncCheckpoints, TrainingGoesOnWhileASaveIsWrittenAndAKillLeavesThePreviousOne) {
  const fs::path root = testing::FreshDir("async_kill");
  const JobRun probe = WriteSpec(root, "probe"), run = WriteSpec(root, "run");
  ASSERT_TRUE(Train(2, probe));  // for the size of a checkpoint
  const uint64_t bytes = CheckpointBytes(probe.output / CheckpointName(2));
  Endless(run, 5);
  const auto ranks = testing::LaunchRanks(
      absl::StrCat(SlowDisk(bytes, 3), MOE_WORKER_BIN, " --log-level warn train --spec ",
                   run.spec.string(), " --metrics-file ", run.metrics.string()),
      2, {0, 1}, testing::FreePort(), /*timeout_s=*/60);
  // The first save commits; then the next is written in the background while steps go on.
  for (int i = 0; i < 3000 && Events(run, "checkpoint").empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_FALSE(Events(run, "checkpoint").empty()) << testing::Output(ranks[0]);
  std::vector<fs::path> writing;
  for (int i = 0; i < 3000 && writing.empty(); ++i) {
    writing = SavesInFlight(run.output);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_FALSE(writing.empty());
  const int64_t saving = *common::CheckpointStep(
      fs::path(writing[0].string().substr(0, writing[0].string().size() - 4)));
  for (int i = 0; i < 3000 && (Steps(run).empty() || Steps(run).back().step <= saving); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(fs::exists(writing[0])) << "the save committed before training went past it";
  EXPECT_GT(Steps(run).back().step, saving) << "training waited for the save";
  const auto before = LatestCheckpoint(run.output);
  for (const auto& rank : ranks) kill(rank.pid, SIGKILL);
  for (const auto& rank : ranks) testing::WaitExit(rank);
  // The save in flight left only its .tmp directory: the newest committed checkpoint is the
  // one before it, whole.
  const auto latest = LatestCheckpoint(run.output);
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(*latest, *before);
  EXPECT_LT(ReadTrainingState(*latest)->step, saving);
  EXPECT_TRUE(VerifyCheckpoint(*latest).ok());
}

TEST(SaveStepsAuto, TheIntervalFollowsTheSaveCostAndEveryRankSavesAtTheSameSteps) {
  // The same job on a fast and on a slowed disk, saves synchronous (so a save's whole time is
  // its cost to training), `save_steps: auto` with interruptions every 20 s. The first save
  // comes with the first report; then the interval is Young/Daly's, in steps, and grows about
  // as the square root of the save's cost. Both ranks must save at the same steps (a save is
  // collective: a rank that disagreed would hang the other).
  const fs::path root = testing::FreshDir("save_auto");
  const JobRun probe = WriteSpec(root, "probe"), fast = WriteSpec(root, "fast"),
               slow = WriteSpec(root, "slow");
  ASSERT_TRUE(Train(2, probe));
  const uint64_t bytes = CheckpointBytes(probe.output / CheckpointName(2));
  for (const JobRun* run : {&fast, &slow}) {
    Respec(*run, [](moe::v1::JobSpec& spec) {
      spec.mutable_training()->set_grad_accumulation(1);
      spec.mutable_training()->set_max_steps(300);
      spec.mutable_training()->set_epochs(1000);
      spec.mutable_checkpoint()->clear_save_steps();
      spec.mutable_checkpoint()->set_save_steps_auto(true);
      spec.mutable_checkpoint()->set_mean_time_between_interruptions("20s");
      spec.mutable_checkpoint()->set_async(false);
      spec.mutable_logging()->set_logging_steps(1);
      spec.mutable_logging()->set_tensorboard(false);
    });
  }
  ASSERT_TRUE(Train(2, fast));
  ASSERT_TRUE(testing::AllSucceed(testing::LaunchRanks(
      absl::StrCat(SlowDisk(bytes, 1.0), MOE_WORKER_BIN, " --log-level warn train --spec ",
                   slow.spec.string(), " --metrics-file ", slow.metrics.string()),
      2)));
  auto interval = [](const JobRun& run) {
    const auto saves = Events(run, "checkpoint");
    EXPECT_GE(saves.size(), 2u);
    if (saves.empty()) return int64_t{0};
    EXPECT_EQ(saves.front()["step"], 1);  // the first report's step
    EXPECT_THAT(saves.back()["interval_why"].get<std::string>(), HasSubstr("Young/Daly"));
    return saves.back()["interval_steps"].get<int64_t>();
  };
  const int64_t fast_interval = interval(fast), slow_interval = interval(slow);
  EXPECT_GT(fast_interval, 0);
  EXPECT_GT(slow_interval, 2 * fast_interval);
  // Periodic saves came at the chosen interval: every one is a committed checkpoint that both
  // ranks wrote (an optimizer shard each).
  for (const auto& save : Events(fast, "checkpoint")) {
    const fs::path dir = save["dir"].get<std::string>();  // none deleted: keep_last 0
    EXPECT_TRUE(fs::exists(dir / "optimizer-00001-of-00002.safetensors")) << dir;
  }
  std::cout << "[save_auto] interval on the fast disk " << fast_interval
            << " steps, on the slow disk " << slow_interval << " steps\n";
}

TEST(ZeroTwo, AStopWhoseSaveCannotCommitInTimeExitsAtOnceFromTheNewestCheckpoint) {
  // Saves take about 3 s on this slow disk and the stop's grace is 2 s: told to stop after the
  // first save committed (and before the next is due), the ranks agree not to start a save
  // that cannot commit, and exit at once with code 8, before the grace ends. The newest
  // committed checkpoint stands.
  const fs::path root = testing::FreshDir("zero_stop_no_save");
  const JobRun probe = WriteSpec(root, "probe"), run = WriteSpec(root, "run");
  ASSERT_TRUE(Train(2, probe));
  const uint64_t bytes = CheckpointBytes(probe.output / CheckpointName(2));
  Endless(run, 400);
  const auto ranks = testing::LaunchRanks(
      absl::StrCat(SlowDisk(bytes, 3), MOE_WORKER_BIN, " train --stop-grace 2 --spec ",
                   run.spec.string(), " --metrics-file ", run.metrics.string()),
      2, {0, 1}, testing::FreePort(), /*timeout_s=*/60);
  for (int i = 0; i < 3000 && Events(run, "checkpoint").empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_FALSE(Events(run, "checkpoint").empty()) << testing::Output(ranks[0]);
  const auto told = std::chrono::steady_clock::now();
  kill(ranks[0].pid, SIGTERM);
  for (const auto& rank : ranks) {
    EXPECT_EQ(testing::WaitExit(rank), common::kExitStoppedWithoutSave) << testing::Output(rank);
  }
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - told).count();
  EXPECT_LT(took, 2.0);
  EXPECT_THAT(testing::Output(ranks[0]),
              HasSubstr("without a checkpoint of it: the last save took"));
  const auto latest = LatestCheckpoint(run.output);
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_TRUE(VerifyCheckpoint(*latest).ok());
  EXPECT_LT(ReadTrainingState(*latest)->step, Steps(run).back().step);
}

}  // namespace
}  // namespace moe::worker
