// moed's Slurm launcher against a real single-node Slurm cluster (munged, slurmctld, slurmd on
// loopback, started per case by scripts/slurm_cluster.sh under a temp directory; skipped with
// the reason where it cannot start). Each job is the tiny 2-rank CPU job; it must finish with
// the weights of an uninterrupted local run, whatever Slurm did to it on the way.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/launcher.h"
#include "tests/testing/moed_process.h"
#include "tests/testing/train_test_util.h"

namespace moe::server {
namespace {

namespace fs = std::filesystem;
using testing::FinalModel;
using ::testing::HasSubstr;
using testing::Moed;
using testing::ReadFile;
using testing::Submit;
using Clock = std::chrono::steady_clock;

// A Slurm cluster of its own; its daemons are stopped (by their pid files) when destroyed.
// SLURM_CONF points this process, and so the moed it starts, at it.
class SlurmCluster {
 public:
  explicit SlurmCluster(const fs::path& dir) : dir_(dir) {
    const std::string log = (dir / "start.log").string();
    // A short GraceTime for preempted jobs, as a cluster's partition would set it.
    const int rc =
        std::system(absl::StrCat("GRACE_S=10 ", MOE_SOURCE_DIR, "/scripts/slurm_cluster.sh start ",
                                 dir.string(), " > ", log, " 2>&1")
                        .c_str());
    if (rc != 0) {
      error_ = ReadFile(log);
      return;
    }
    setenv("SLURM_CONF", (dir / "slurm.conf").c_str(), 1);
  }
  ~SlurmCluster() {
    (void)std::system(
        absl::StrCat(MOE_SOURCE_DIR, "/scripts/slurm_cluster.sh stop ", dir_.string()).c_str());
    unsetenv("SLURM_CONF");
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  bool up() const { return error_.empty(); }
  const std::string& error() const { return error_; }

 private:
  fs::path dir_;
  std::string error_;
};

// Runs a shell command; returns its standard output.
std::string Shell(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof(buffer), pipe)) out.append(buffer, n);
  pclose(pipe);
  return out;
}

// The tiny 2-rank job, through Slurm.
moe::v1::JobSpec SlurmJob(const fs::path& output, int steps) {
  moe::v1::JobSpec spec = testing::Job(output, steps);
  spec.mutable_resources()->set_launcher(moe::v1::LAUNCHER_SLURM);
  return spec;
}

// The Slurm job id of job `id`'s attempt `index` (0 until it is known).
std::string SlurmJobId(Moed& moed, int64_t id, int index) {
  const auto attempts = moed.client().Attempts(id);
  if (!attempts.ok() || attempts->attempts_size() <= index) return "";
  absl::string_view handle = attempts->attempts(index).launcher_handle();
  return absl::ConsumePrefix(&handle, "slurm:") ? std::string(handle) : "";
}

// The newest committed checkpoint of job `id` that attempt `attempt_id` wrote (empty if none).
moe::v1::Checkpoint NewestCheckpointOf(Moed& moed, int64_t id, int64_t attempt_id) {
  moe::v1::Checkpoint newest;
  const auto checkpoints = moed.client().Checkpoints(id);
  EXPECT_TRUE(checkpoints.ok()) << checkpoints.status();
  if (!checkpoints.ok()) return newest;
  for (const moe::v1::Checkpoint& c : checkpoints->checkpoints()) {
    if (c.attempt_id() == attempt_id && c.step() > newest.step()) newest = c;
  }
  return newest;
}

// Seconds from submitting `spec` to its first reported step, then waits for it to complete.
double SubmitToFirstStep(Moed& moed, const moe::v1::JobSpec& spec, int64_t* id) {
  const auto submitted = Clock::now();
  *id = Submit(moed, spec);
  moed.WaitFor(*id, [](const moe::v1::Job& j) { return j.step() >= 1; });
  const double seconds = std::chrono::duration<double>(Clock::now() - submitted).count();
  moed.WaitForState(*id, moe::v1::JOB_STATE_COMPLETED);
  return seconds;
}

class Slurm : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ =
        worker::testing::FreshDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    // A short directory: Slurm's and munge's sockets live under it (108 bytes at most).
    char dir[] = "/tmp/slurm-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    cluster_ = std::make_unique<SlurmCluster>(dir);
    if (!cluster_->up()) {
      GTEST_SKIP() << "no single-node Slurm cluster here (needs root and Debian's slurmctld, "
                      "slurmd, slurm-client and munge):\n"
                   << cluster_->error();
    }
  }
  void TearDown() override {
    if (cluster_ != nullptr && cluster_->up()) Shell("scancel --user=root 2>/dev/null");
  }

  // The final model of an uninterrupted local run of the same job.
  std::string Reference(int steps) {
    const moe::v1::JobSpec spec = testing::Job(root_ / "reference", steps);
    Moed moed(root_ / "reference-data");
    moed.WaitForState(Submit(moed, spec), moe::v1::JOB_STATE_COMPLETED);
    return FinalModel(spec);
  }

  fs::path root_;
  std::unique_ptr<SlurmCluster> cluster_;
};

TEST_F(Slurm, ATwoRankJobRunsToCompletionThroughSlurm) {
  Moed moed(root_ / "data");
  // The figure: submit to first step, the local launcher and Slurm's side by side.
  const moe::v1::JobSpec local = testing::Job(root_ / "local", 20),
                         slurm = SlurmJob(root_ / "slurm-run", 20);
  int64_t local_id = 0, id = 0;
  const double local_s = SubmitToFirstStep(moed, local, &local_id);
  const double slurm_s = SubmitToFirstStep(moed, slurm, &id);
  std::cout << "[figure] submit to first step: local launcher " << local_s << " s, Slurm "
            << slurm_s << " s (" << slurm_s / local_s << "x)\n";

  const auto attempts = moed.client().Attempts(id);
  ASSERT_EQ(attempts->attempts_size(), 1);
  EXPECT_EQ(attempts->attempts(0).cause(), moe::v1::ATTEMPT_CAUSE_COMPLETED);
  const std::string slurm_id = SlurmJobId(moed, id, 0);
  ASSERT_FALSE(slurm_id.empty()) << "the attempt was not a Slurm job";
  // Slurm ran it: it knows the job, and its tasks were the ranks.
  EXPECT_THAT(Shell("squeue -h --states=all -j " + slurm_id + " -o %T"), HasSubstr("COMPLETED"));
  const fs::path attempt_dir = fs::path(moed.client().Get(id)->job_dir()) /
                               absl::StrCat("attempt-", attempts->attempts(0).id());
  for (int rank = 0; rank < 2; ++rank) {
    EXPECT_EQ(ReadFile(attempt_dir / absl::StrCat("rank-", rank, ".exit")), "0\n");
  }
  EXPECT_THAT(ReadFile(attempt_dir / "rank-0.log"), HasSubstr("step 20"));
  EXPECT_TRUE(fs::exists(attempt_dir / absl::StrCat("slurm-", slurm_id, ".out")));
  EXPECT_FALSE(FinalModel(slurm).empty());
  EXPECT_TRUE(FinalModel(slurm) == FinalModel(local)) << "Slurm's run trained other weights";
}

TEST_F(Slurm, AJobSlurmWouldRefuseIsRefusedAtSubmitWithSlurmsReason) {
  Moed moed(root_ / "data");
  moe::v1::JobSpec spec = SlurmJob(root_ / "refused", 5);
  spec.mutable_resources()->mutable_slurm()->set_partition("no-such-partition");
  const auto refused = moed.client().Submit(spec);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("invalid partition"));
  spec = SlurmJob(root_ / "refused", 5);
  spec.mutable_resources()->mutable_slurm()->set_nodes(2);  // the cluster has one
  EXPECT_EQ(moed.client().Submit(spec).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(moed.client().List()->jobs().empty()) << "nothing was queued";
}

TEST_F(Slurm, ScancelIsRecordedAndTheJobResumesFromTheLastCheckpoint) {
  const std::string reference = Reference(40);
  const moe::v1::JobSpec spec = SlurmJob(root_ / "cancelled", 40);
  Moed moed(root_ / "data");
  const int64_t id = Submit(moed, spec);
  moed.WaitFor(id, [](const moe::v1::Job& j) { return j.step() >= 7; });
  const std::string slurm_id = SlurmJobId(moed, id, 0);
  ASSERT_FALSE(slurm_id.empty());
  Shell("scancel " + slurm_id);  // an operator, not moed

  const moe::v1::Job done = moed.WaitForState(id, moe::v1::JOB_STATE_COMPLETED);
  const auto attempts = moed.client().Attempts(id);
  ASSERT_EQ(attempts->attempts_size(), 2) << moed.log();
  EXPECT_EQ(attempts->attempts(0).cause(), moe::v1::ATTEMPT_CAUSE_SCHEDULER_CANCELLED);
  EXPECT_EQ(done.restarts(), 1) << "a scancel is a restart within resources.max_restarts";
  // Resumed from the newest checkpoint the cancelled attempt committed.
  const moe::v1::Checkpoint newest = NewestCheckpointOf(moed, id, attempts->attempts(0).id());
  EXPECT_GE(newest.step(), 5);
  EXPECT_EQ(attempts->attempts(1).resume_from(), newest.path());
  EXPECT_NE(SlurmJobId(moed, id, 1), slurm_id) << "the restart is a new Slurm job";
  EXPECT_TRUE(FinalModel(spec) == reference) << "final weights differ";
}

TEST_F(Slurm, PreemptionLeavesAnEmergencyCheckpointAndTheJobCompletesIdentically) {
  // Long enough that Slurm's preemption (a scheduling cycle away) lands before the end: at 40
  // steps the job sometimes finished first.
  const std::string reference = Reference(160);
  const moe::v1::JobSpec spec = SlurmJob(root_ / "preempted", 160);
  Moed moed(root_ / "data");
  const int64_t id = Submit(moed, spec);
  moed.WaitFor(id, [](const moe::v1::Job& j) { return j.step() >= 7; });
  // A job of the higher-priority partition needs a core the batch job holds: Slurm preempts
  // it (SIGTERM, SIGKILL after the partition's GraceTime).
  const std::string urgent =
      Shell("sbatch --parsable -p urgent -n 1 --output=/dev/null --wrap 'sleep 2'");
  ASSERT_FALSE(absl::StripAsciiWhitespace(urgent).empty());

  const moe::v1::Job done = moed.WaitForState(id, moe::v1::JOB_STATE_COMPLETED, 180);
  const auto attempts = moed.client().Attempts(id);
  ASSERT_EQ(attempts->attempts_size(), 2) << moed.log();
  EXPECT_EQ(attempts->attempts(0).cause(), moe::v1::ATTEMPT_CAUSE_PREEMPTED);
  EXPECT_EQ(attempts->attempts(0).exit_code(), 3) << "stopped with a checkpoint";
  EXPECT_EQ(done.restarts(), 0) << "a preemption is not the job's fault";
  // The emergency checkpoint: the step the ranks agreed to stop at, committed before Slurm's
  // SIGKILL, and what the next attempt resumed from.
  const moe::v1::Checkpoint stop = NewestCheckpointOf(moed, id, attempts->attempts(0).id());
  EXPECT_GE(stop.step(), 7);
  EXPECT_EQ(attempts->attempts(1).resume_from(), stop.path());
  EXPECT_TRUE(FinalModel(spec) == reference) << "final weights differ";
}

TEST_F(Slurm, ANodeFailureIsRecordedAndTheJobRestartsFromTheLastCheckpoint) {
  const std::string reference = Reference(40);
  const moe::v1::JobSpec spec = SlurmJob(root_ / "node_failed", 40);
  Moed moed(root_ / "data");
  const int64_t id = Submit(moed, spec);
  moed.WaitFor(id, [](const moe::v1::Job& j) { return j.step() >= 7; });
  // The node goes down under the job (as when its slurmd stops answering).
  const std::string node(absl::StripAsciiWhitespace(Shell("hostname -s")));
  Shell("scontrol update nodename=" + node + " state=down reason=moetrain-test");
  moed.WaitFor(id, [&](const moe::v1::Job&) {
    const auto attempts = moed.client().Attempts(id);
    return attempts.ok() && attempts->attempts(0).ended_unix_s() > 0;
  });
  Shell("scontrol update nodename=" + node + " state=resume 2>&1");  // may be back already

  const moe::v1::Job done = moed.WaitForState(id, moe::v1::JOB_STATE_COMPLETED);
  const auto attempts = moed.client().Attempts(id);
  ASSERT_GE(attempts->attempts_size(), 2) << moed.log();
  EXPECT_EQ(attempts->attempts(0).cause(), moe::v1::ATTEMPT_CAUSE_NODE_FAILED);
  EXPECT_EQ(done.restarts(), 1) << "a failed node is a restart within resources.max_restarts";
  EXPECT_THAT(attempts->attempts(1).resume_from(), HasSubstr("checkpoint-step-"));
  EXPECT_TRUE(FinalModel(spec) == reference) << "final weights differ";
}

TEST_F(Slurm, ARestartedMoedReattachesToTheRunningSlurmJob) {
  const std::string reference = Reference(40);
  const moe::v1::JobSpec spec = SlurmJob(root_ / "reattached", 40);
  const std::string listen = absl::StrCat("--listen 127.0.0.1:", FreeLoopbackPort());
  int64_t id = 0;
  std::string slurm_id;
  {
    Moed moed(root_ / "data", listen);
    id = Submit(moed, spec);
    moed.WaitFor(id, [](const moe::v1::Job& j) { return j.step() >= 3; });
    slurm_id = SlurmJobId(moed, id, 0);
    moed.Kill(SIGKILL);  // moed's machine went away; Slurm's nodes did not
  }
  ASSERT_FALSE(slurm_id.empty());
  EXPECT_THAT(Shell("squeue -h -j " + slurm_id + " -o %T"), HasSubstr("RUNNING"));
  Moed again(root_ / "data", listen);  // workers report to the same address
  const moe::v1::Job done = again.WaitForState(id, moe::v1::JOB_STATE_COMPLETED);
  const auto attempts = again.client().Attempts(id);
  ASSERT_EQ(attempts->attempts_size(), 1) << "re-attached, not restarted:\n" << again.log();
  EXPECT_EQ(attempts->attempts(0).cause(), moe::v1::ATTEMPT_CAUSE_COMPLETED);
  EXPECT_EQ(done.restarts(), 0);
  EXPECT_THAT(again.log(), HasSubstr("re-attached to attempt"));
  EXPECT_TRUE(FinalModel(spec) == reference) << "final weights differ";
}

}  // namespace
}  // namespace moe::server
