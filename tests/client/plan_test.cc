// A job's plan (moectl plan): sizes parsed as people write them, the verdict at, under and within
// 5% of the device's memory, every suggested change re-planned and fitting, the flagship's
// parameter count (the figure the issue gives) and checkpoint size, and the command's exit codes.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/spec_loader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plan/job_plan.h"

namespace moe::plan {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using Verdict = JobPlan::Verdict;

const fs::path kSource = MOE_SOURCE_DIR;

moe::v1::JobSpec Tiny() {
  return common::LoadJobSpec(kSource / "configs/jobs/tiny-cpu.yaml").value();
}

// The demo job on GPUs: verdicts against a GPU's memory.
moe::v1::JobSpec TinyOnGpus() {
  moe::v1::JobSpec spec = Tiny();
  spec.mutable_resources()->set_device(moe::v1::DEVICE_CUDA);
  return spec;
}

// The flagship spec with mpt-7b's shapes written out (its hf_path is not on this machine).
fs::path FlagshipShaped() {
  std::ifstream in(kSource / "configs/jobs/mpt7b-moe-nq.yaml");
  std::stringstream text;
  text << in.rdbuf();
  std::string spec = text.str();
  auto replace = [&](const std::string& from, const std::string& to) {
    const size_t at = spec.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    spec.replace(at, from.size(), to);
  };
  replace("  hf_path: /models/mosaicml/mpt-7b\n",
          "  config: {d_model: 4096, n_heads: 32, n_layers: 32, expansion_ratio: 4, "
          "max_seq_len: 2048, vocab_size: 50432}\n  tokenizer: " +
              (kSource / "assets/tiny-tokenizer/tokenizer.json").string() + "\n");
  replace("/data/nq_annotated_moe.jsonl", (kSource / "datasets/nq_sample.jsonl").string());
  const fs::path path = fs::temp_directory_path() / "moe_plan_test_flagship.yaml";
  std::ofstream(path) << spec;
  return path;
}

TEST(ParseBytes, TakesTheUnitsPeopleWrite) {
  EXPECT_EQ(*ParseBytes("80GiB"), int64_t{80} << 30);
  EXPECT_EQ(*ParseBytes("141GB"), int64_t{141'000'000'000});
  EXPECT_EQ(*ParseBytes(" 512 MiB "), int64_t{512} << 20);
  EXPECT_EQ(*ParseBytes("1e9"), int64_t{1'000'000'000});
  EXPECT_EQ(*ParseBytes("1.5tb"), int64_t{1'500'000'000'000});
  for (const char* bad : {"lots", "-5GB", "80XB", "", "0", "1e30GB"}) {
    const auto parsed = ParseBytes(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("is not a memory size")) << bad;
  }
}

TEST(PlanJob, TheVerdictFollowsTheMemoryAndEverySuggestedChangeFits) {
  const JobPlan roomy = *PlanJob(TinyOnGpus(), {0, int64_t{80} << 30});
  EXPECT_EQ(roomy.verdict, Verdict::kFits);
  EXPECT_TRUE(roomy.fixes.empty());
  EXPECT_EQ(roomy.ranks, 2);  // the spec's
  EXPECT_EQ(PlanJob(TinyOnGpus(), {}).value().verdict, Verdict::kUnknown);
  const int64_t total = roomy.plan.total();
  EXPECT_EQ(PlanJob(TinyOnGpus(), {0, total}).value().verdict, Verdict::kTight);
  EXPECT_EQ(PlanJob(TinyOnGpus(), {0, total * 100 / 97}).value().verdict, Verdict::kTight);
  EXPECT_EQ(PlanJob(TinyOnGpus(), {0, total * 100 / 94}).value().verdict, Verdict::kFits);
  const JobPlan short_of = *PlanJob(TinyOnGpus(), {0, total - 1});
  EXPECT_EQ(short_of.verdict, Verdict::kDoesNotFit);
  ASSERT_FALSE(short_of.fixes.empty());
  for (const JobPlan::Change& fix : short_of.fixes) {
    EXPECT_LE(fix.plan.total(), total - 1) << fix.what;
  }
  // More ranks: ZeRO-2 divides the fp32 gradients and optimizer state, not the parameters.
  const JobPlan four = *PlanJob(TinyOnGpus(), {4, 0});
  EXPECT_EQ(four.plan.parameters, roomy.plan.parameters);
  EXPECT_LT(four.plan.optimizer, roomy.plan.optimizer * 0.51);
  EXPECT_NE(PlanText(short_of).find("does not fit"), std::string::npos);
  const nlohmann::json json = PlanJson(short_of);
  EXPECT_EQ(json["verdict"], "does not fit");
  EXPECT_EQ(json["per_rank"]["total"], total);
  EXPECT_EQ(json["fixes"].size(), short_of.fixes.size());
}

constexpr int64_t kH100 = int64_t{80} << 30, kNode = int64_t{1} << 40;  // 80 GiB, 1 TiB

TEST(PlanJob, TheFlagshipAsFirstShippedDoesNotFitTwoH100sAndOffloadOrEightGpusWould) {
  moe::v1::JobSpec spec = common::LoadJobSpec(FlagshipShaped()).value();
  spec.mutable_zero()->clear_offload_optimizer();  // as shipped before issue 18
  const JobPlan plan = *PlanJob(spec, {0, kH100, kNode});
  // The count issue 18 states for configs/jobs/mpt7b-moe-nq.yaml.
  EXPECT_EQ(plan.parameters.total, 19'534'712'832);
  EXPECT_EQ(plan.checkpoint_bytes, uint64_t{19'534'712'832} * (2 + 12));
  EXPECT_EQ(plan.verdict, Verdict::kDoesNotFit);
  EXPECT_EQ(plan.limit, "per GPU");
  // On two ranks the fp32 optimizer state alone is 12 bytes x N / 2.
  EXPECT_NEAR(plan.plan.optimizer, 12.0 * 19'534'712'832 / 2, 1e6);
  std::vector<std::string> fixes;
  for (const JobPlan::Change& fix : plan.fixes) fixes.push_back(fix.what);
  // MoE on every 2nd, 4th or 8th layer alone does not fit: the experts of the layers left
  // still need their optimizer state on the GPU.
  EXPECT_THAT(fixes, ::testing::ElementsAre("zero.offload_optimizer: cpu",
                                            HasSubstr("resources.world_size: 8")))
      << PlanText(plan);
}

TEST(PlanJob, TheFlagshipAsShippedFitsTwoH100sWithItsOptimizerOnTheHost) {
  const moe::v1::JobSpec spec = common::LoadJobSpec(FlagshipShaped()).value();
  ASSERT_EQ(spec.zero().offload_optimizer(), moe::v1::OFFLOAD_DEVICE_CPU);
  const JobPlan plan = *PlanJob(spec, {0, kH100, kNode});
  EXPECT_EQ(plan.verdict, Verdict::kFits) << PlanText(plan);
  EXPECT_EQ(plan.plan.gradients + plan.plan.optimizer, 0);
  // The host holds each rank's fp32 gradient, master weights and moments: 16 bytes x N / 2.
  EXPECT_NEAR(plan.plan.host_optimizer, 16.0 * plan.parameters.total / 2, 1e6);
  EXPECT_LE(plan.plan.HostPerNode(2), kNode);
  // A node with 256 GiB cannot hold it.
  const JobPlan small_host = *PlanJob(spec, {0, kH100, int64_t{256} << 30});
  EXPECT_EQ(small_host.verdict, Verdict::kDoesNotFit);
  EXPECT_EQ(small_host.limit, "host memory per node");
}

TEST(PlanJob, OffloadMovesTheRangesGradientAndOptimizerStateToTheHost) {
  moe::v1::JobSpec spec = Tiny();
  spec.mutable_resources()->set_device(moe::v1::DEVICE_CUDA);
  spec.mutable_checkpoint()->set_async(false);
  const JobPlan device = *PlanJob(spec, {});
  spec.mutable_zero()->set_offload_optimizer(moe::v1::OFFLOAD_DEVICE_CPU);
  const JobPlan host = *PlanJob(spec, {});
  EXPECT_EQ(device.plan.total() - host.plan.total(), device.plan.gradients + device.plan.optimizer);
  EXPECT_EQ(host.plan.host_optimizer, device.plan.gradients + device.plan.optimizer);
  EXPECT_EQ(device.plan.host_total(), 0);
  // A GPU model's new weights (model dtype) and one bucket's share come back through staging.
  EXPECT_GT(host.plan.host_staging, 0);
  // A CPU job's device is the host: the verdict is the node's, ranks' device and host terms.
  spec.mutable_resources()->set_device(moe::v1::DEVICE_CPU);
  const JobPlan cpu = *PlanJob(spec, {});
  const int64_t node = 2 * cpu.plan.total() + cpu.plan.HostPerNode(2);
  EXPECT_EQ(PlanJob(spec, {0, 0, node}).value().verdict, Verdict::kTight);
  const JobPlan short_of = *PlanJob(spec, {0, 0, node - 1});
  EXPECT_EQ(short_of.verdict, Verdict::kDoesNotFit);
  EXPECT_EQ(short_of.limit, "per node");
  EXPECT_THAT(PlanSummary(short_of), HasSubstr("per node"));
}

TEST(PlanJob, MoeOnListedLayersCountsOnlyThose) {
  moe::v1::JobSpec spec = Tiny();
  ASSERT_GE(spec.model().config().n_layers(), 2u);
  spec.mutable_model()->mutable_moe()->set_every_n_layers(2);
  const JobPlan every_second = *PlanJob(spec, {});
  moe::v1::LayerList* list = spec.mutable_model()->mutable_moe()->mutable_layer_list();
  for (uint32_t layer = 1; layer < spec.model().config().n_layers(); layer += 2) {
    list->add_layers(layer);
  }
  const JobPlan listed = *PlanJob(spec, {});
  EXPECT_EQ(listed.parameters.total, every_second.parameters.total);
  EXPECT_EQ(listed.plan.total(), every_second.plan.total());
  spec.mutable_model()->mutable_moe()->set_all_layers(true);
  EXPECT_GT(PlanJob(spec, {}).value().parameters.total, listed.parameters.total);
}

TEST(MoectlPlan, ExitsOneWhenItDoesNotFitAndTwoOnABadSize) {
  const std::string out = (fs::temp_directory_path() / "moe_plan_test.out").string();
  const fs::path spec = FlagshipShaped();
  int status = std::system(
      absl::StrCat(MOECTL_BIN, " plan ", spec.string(), " --gpu-memory 80GiB > ", out, " 2>&1")
          .c_str());
  std::stringstream text;
  text << std::ifstream(out).rdbuf();
  EXPECT_EQ(WEXITSTATUS(status), 0) << text.str();
  EXPECT_THAT(text.str(), HasSubstr("verdict: fits"));
  EXPECT_THAT(text.str(), HasSubstr("host: offloaded optimizer"));
  // Its host memory on a node of 128 GiB does not.
  status = std::system(absl::StrCat(MOECTL_BIN, " plan ", spec.string(),
                                    " --gpu-memory 80GiB --host-memory 128GiB > ", out, " 2>&1")
                           .c_str());
  std::stringstream small_host;
  small_host << std::ifstream(out).rdbuf();
  EXPECT_EQ(WEXITSTATUS(status), 1) << small_host.str();
  EXPECT_THAT(small_host.str(), HasSubstr("does not fit"));
  EXPECT_THAT(small_host.str(), HasSubstr("host memory per node"));
  status = std::system(
      absl::StrCat(MOECTL_BIN, " plan ", spec.string(), " --gpu-memory lots > ", out, " 2>&1")
          .c_str());
  std::stringstream error;
  error << std::ifstream(out).rdbuf();
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_THAT(error.str(), HasSubstr("--gpu-memory: 'lots' is not a memory size"));
}

}  // namespace
}  // namespace moe::plan
