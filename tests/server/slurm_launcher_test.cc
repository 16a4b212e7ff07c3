// The Slurm launcher's pure parts: what Slurm's job states mean to moed, the batch job's shape
// from a spec and moed's defaults, and quoting for the batch script (checked by a real bash).
#include "server/slurm_launcher.h"

#include <fstream>
#include <iterator>

#include "common/proto_yaml.h"
#include "common/spec_defaults.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/subprocess.h"

namespace moe::server {
namespace {

using ::testing::HasSubstr;

TEST(SlurmState, QueuedAndRunningJobsHaveNotEnded) {
  for (const char* state : {"PENDING", "CONFIGURING", "REQUEUED"}) {
    const SlurmState s = InterpretSlurmState(state, false);
    EXPECT_TRUE(s.pending) << state;
    EXPECT_FALSE(s.ended) << state;
  }
  for (const char* state : {"RUNNING", "COMPLETING", "SUSPENDED"}) {
    const SlurmState s = InterpretSlurmState(state, false);
    EXPECT_FALSE(s.pending || s.ended) << state;
  }
  EXPECT_TRUE(InterpretSlurmState("SUSPENDED", false).suspended) << "no heartbeats then";
  EXPECT_FALSE(InterpretSlurmState("RUNNING", false).suspended);
}

TEST(SlurmState, SlurmsOwnEndsMapToMoedsCauses) {
  EXPECT_EQ(InterpretSlurmState("CANCELLED", false).cause,
            moe::v1::ATTEMPT_CAUSE_SCHEDULER_CANCELLED);
  EXPECT_EQ(InterpretSlurmState("CANCELLED by 1000", false).cause,  // sacct's spelling
            moe::v1::ATTEMPT_CAUSE_SCHEDULER_CANCELLED);
  EXPECT_EQ(InterpretSlurmState("NODE_FAIL", false).cause, moe::v1::ATTEMPT_CAUSE_NODE_FAILED);
  EXPECT_EQ(InterpretSlurmState("BOOT_FAIL", false).cause, moe::v1::ATTEMPT_CAUSE_NODE_FAILED);
  EXPECT_EQ(InterpretSlurmState("PREEMPTED", false).cause, moe::v1::ATTEMPT_CAUSE_PREEMPTED);
  EXPECT_EQ(InterpretSlurmState("TIMEOUT", false).cause, moe::v1::ATTEMPT_CAUSE_TIME_LIMIT);
  EXPECT_EQ(InterpretSlurmState("OUT_OF_MEMORY", false).cause, moe::v1::ATTEMPT_CAUSE_OOM_KILLED);
  for (const char* state : {"CANCELLED", "NODE_FAIL", "COMPLETED", "FAILED", "FORGOTTEN"}) {
    EXPECT_TRUE(InterpretSlurmState(state, false).ended) << state;
  }
}

TEST(SlurmState, EndsTheRanksExitStatusesExplainAreLeftToThem) {
  EXPECT_EQ(InterpretSlurmState("COMPLETED", false).cause, moe::v1::ATTEMPT_CAUSE_UNSPECIFIED);
  EXPECT_EQ(InterpretSlurmState("FAILED", false).cause, moe::v1::ATTEMPT_CAUSE_UNSPECIFIED);
  // moed's own scancel: moed already knows why (a cancel, a hang, SIGKILL after the grace).
  EXPECT_EQ(InterpretSlurmState("CANCELLED", true).cause, moe::v1::ATTEMPT_CAUSE_UNSPECIFIED);
}

moe::v1::JobSpec Spec(uint32_t world, uint32_t nodes, uint32_t gpus) {
  moe::v1::JobSpec spec;
  spec.mutable_resources()->set_world_size(world);
  spec.mutable_resources()->mutable_slurm()->set_nodes(nodes);
  spec.mutable_resources()->mutable_slurm()->set_gpus_per_node(gpus);
  return spec;
}

TEST(SlurmLauncher, AdmitsOnlyLayoutsOfWholeNodes) {
  const SlurmLauncher launcher({});
  EXPECT_TRUE(launcher.CheckLayout(Spec(16, 2, 8)).ok());
  EXPECT_TRUE(launcher.CheckLayout(Spec(4, 2, 0)).ok()) << "CPU tasks: world_size / nodes per node";
  EXPECT_TRUE(launcher.CheckLayout(Spec(64, 0, 0)).ok())
      << "one node by default; slots do not count";
  const absl::Status gpus = launcher.CheckLayout(Spec(12, 2, 8));
  EXPECT_EQ(gpus.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(gpus.message(), HasSubstr("resources.world_size is 12"));
  EXPECT_THAT(gpus.message(), HasSubstr("2 nodes x 8 GPUs"));
  const absl::Status uneven = launcher.CheckLayout(Spec(3, 2, 0));
  EXPECT_THAT(uneven.message(), HasSubstr("resources.slurm.nodes"));
}

TEST(SlurmLauncher, TheSpecOverridesMoedsDefaultsFieldByField) {
  SlurmOptions options;
  options.defaults.set_partition("gpu");
  options.defaults.set_account("ml");
  options.defaults.set_time_limit("4:00:00");
  options.defaults.set_gpus_per_node(8);
  const SlurmLauncher launcher(options);
  moe::v1::SlurmSpec spec;
  spec.set_partition("spot");
  spec.set_nodes(4);
  const moe::v1::SlurmSpec resolved = launcher.Resolve(spec);
  EXPECT_EQ(resolved.partition(), "spot");
  EXPECT_EQ(resolved.nodes(), 4u);
  EXPECT_EQ(resolved.account(), "ml");
  EXPECT_EQ(resolved.time_limit(), "4:00:00");
  EXPECT_EQ(resolved.gpus_per_node(), 8u);
  EXPECT_EQ(launcher.Resolve({}).nodes(), 1u);
}

TEST(SlurmLauncher, TheShippedExampleJobFitsItsLayout) {
  std::ifstream in(std::string(MOE_SOURCE_DIR) + "/deploy/slurm/job.yaml");
  const std::string text((std::istreambuf_iterator<char>(in)), {});
  moe::v1::JobSpec spec;
  ASSERT_TRUE(common::YamlToMessage(text, "deploy/slurm/job.yaml", &spec).ok());
  common::ApplyDefaults(&spec);
  EXPECT_EQ(spec.resources().launcher(), moe::v1::LAUNCHER_SLURM);
  EXPECT_EQ(spec.resources().slurm().gpus_per_node(), 8u);
  EXPECT_TRUE(SlurmLauncher({}).CheckLayout(spec).ok());
}

TEST(ShellQuote, BashReadsBackExactlyTheText) {
  for (const std::string text :
       {"plain", "with space", "it's", "''", "$HOME `id` $(id) \\ \" ; | & *", "line\nbreak", ""}) {
    const auto result = RunCommand({"/bin/bash", "-c", "printf %s " + ShellQuote(text)}, {}, 10);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->out, text);
  }
}

TEST(RunCommand, CapturesBothStreamsAndTheExitCodeAndEnforcesTheTimeout) {
  const auto result =
      RunCommand({"/bin/sh", "-c", "echo out; echo err >&2; echo $MOE_X; exit 7"}, {"MOE_X=x"}, 10);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->out, "out\nx\n");
  EXPECT_EQ(result->err, "err\n");
  EXPECT_EQ(result->exit_code, 7);
  EXPECT_EQ(RunCommand({"/bin/sleep", "10"}, {}, 0.2).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(RunCommand({"/no/such/tool"}, {}, 1).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace moe::server
