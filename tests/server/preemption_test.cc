// moed under preemption, end to end with real processes: a spot notice from a stand-in
// metadata service, SIGTERM to moed (how a spot VM's shutdown reaches it), and a committed
// checkpoint damaged while the machine was down. Each time the job must finish with the
// weights of an uninterrupted run.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "common/checkpoint_manifest.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/catalogue.h"
#include "tests/testing/damage_checkpoints.h"
#include "tests/testing/fake_metadata_server.h"
#include "tests/testing/moed_process.h"
#include "tests/testing/train_test_util.h"

namespace moe::server {
namespace {

namespace fs = std::filesystem;
using testing::FakeMetadataServer;
using testing::FinalModel;
using ::testing::HasSubstr;
using testing::Job;
using testing::Moed;
using testing::Submit;
using testing::WorkerPids;

double UnixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Runs `spec` to completion on a moed of its own: the uninterrupted reference.
void RunReference(const fs::path& data_dir, const moe::v1::JobSpec& spec) {
  Moed moed(data_dir);
  moed.WaitForState(Submit(moed, spec), moe::v1::JOB_STATE_COMPLETED);
}

// After moed stopped gracefully: the job is INTERRUPTED, its attempt PREEMPTED, and its newest
// checkpoint is the last step it reported (no step to redo). Returns that checkpoint.
moe::v1::Checkpoint ExpectStoppedWithoutLoss(const fs::path& data_dir, int64_t id) {
  // The catalogue as moed left it (no moed runs now).
  auto catalogue = Catalogue::Open((data_dir / "moed.db").string());
  EXPECT_TRUE(catalogue.ok()) << catalogue.status();
  const auto job = (*catalogue)->GetJob(id);
  EXPECT_EQ(job->state(), moe::v1::JOB_STATE_INTERRUPTED);
  const auto attempts = (*catalogue)->ListAttempts(id);
  EXPECT_EQ(attempts->size(), 1u);
  EXPECT_EQ(attempts->at(0).cause(), moe::v1::ATTEMPT_CAUSE_PREEMPTED);
  EXPECT_EQ(attempts->at(0).exit_code(), 3);
  const auto checkpoints = (*catalogue)->ListCheckpoints(id);
  EXPECT_FALSE(checkpoints->empty());
  if (checkpoints->empty()) return {};
  const moe::v1::Checkpoint newest = checkpoints->front();
  EXPECT_EQ(newest.step(), job->step()) << "steps after the newest checkpoint would be redone";
  EXPECT_TRUE(common::VerifyCheckpoint(newest.path()).ok());
  return newest;
}

TEST(Preemption, ASpotNoticeStopsMoedWithACheckpointAndTheJobResumesExactly) {
  const fs::path root = worker::testing::FreshDir("preempt_notice");
  const moe::v1::JobSpec reference = Job(root / "reference", 40),
                         interrupted = Job(root / "interrupted", 40);
  RunReference(root / "reference-data", reference);
  FakeMetadataServer metadata;
  int64_t id = 0;
  {
    Moed moed(root / "data", absl::StrCat("--preemption-notice aws --metadata-url ", metadata.url(),
                                          " --notice-poll 0.1"));
    id = Submit(moed, interrupted);
    moed.WaitFor(id, [](const moe::v1::Job& j) { return j.step() >= 7; });
    metadata.SetNotice();
    const int status = moed.Wait();  // moed stops by itself
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << moed.log();
    EXPECT_THAT(moed.log(), HasSubstr("aws: spot instance-action terminate"));
    EXPECT_TRUE(WorkerPids(root / "data", id).empty());
  }
  const moe::v1::Checkpoint stop = ExpectStoppedWithoutLoss(root / "data", id);
  EXPECT_GE(stop.step(), 7);
  Moed again(root / "data");  // the machine is back
  const moe::v1::Job done = again.WaitForState(id, moe::v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(done.restarts(), 0);
  EXPECT_FALSE(FinalModel(reference).empty());
  EXPECT_TRUE(FinalModel(reference) == FinalModel(interrupted)) << "final weights differ";
}

TEST(Preemption, SigtermToMoedCommitsTheStopStepQuickly) {
  const fs::path root = worker::testing::FreshDir("preempt_sigterm");
  const moe::v1::JobSpec reference = Job(root / "reference", 40),
                         interrupted = Job(root / "interrupted", 40);
  RunReference(root / "reference-data", reference);
  int64_t id = 0;
  double sent = 0;
  {
    Moed moed(root / "data");
    id = Submit(moed, interrupted);
    moed.WaitFor(id, [](const moe::v1::Job& j) { return j.step() >= 7; });
    sent = UnixNow();
    const int status = moed.Kill(SIGTERM);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << moed.log();
  }
  const double exited = UnixNow() - sent;
  const moe::v1::Checkpoint stop = ExpectStoppedWithoutLoss(root / "data", id);
  // The figure the issue asks for: SIGTERM to the committed emergency checkpoint.
  std::cout << "[figure] SIGTERM to committed checkpoint of step " << stop.step() << ": "
            << stop.committed_unix_s() - sent << " s (moed exited after " << exited << " s), "
            << stop.bytes() << " bytes\n";
  EXPECT_LT(stop.committed_unix_s() - sent, 10);
  Moed again(root / "data");
  again.WaitForState(id, moe::v1::JOB_STATE_COMPLETED);
  EXPECT_TRUE(FinalModel(reference) == FinalModel(interrupted)) << "final weights differ";
}

TEST(Preemption, ADamagedNewestCheckpointIsSetAsideAndTheOneBeforeResumes) {
  const fs::path root = worker::testing::FreshDir("preempt_damaged");
  const moe::v1::JobSpec reference = Job(root / "reference", 40),
                         interrupted = Job(root / "interrupted", 40);
  RunReference(root / "reference-data", reference);
  int64_t id = 0;
  moe::v1::Checkpoint newest;
  {
    Moed moed(root / "data");
    id = Submit(moed, interrupted);
    moed.WaitFor(id, [&](const moe::v1::Job&) {
      return moed.client().Checkpoints(id)->checkpoints_size() >= 2;
    });
    const std::vector<pid_t> workers = WorkerPids(root / "data", id);
    moed.Kill(SIGKILL);  // the machine vanished...
    for (pid_t pid : workers) kill(pid, SIGKILL);
  }
  for (int i = 0; i < 100 && !WorkerPids(root / "data", id).empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // ...and its disk lost a byte of the newest checkpoint's model.
  newest =
      testing::DamageNewestCheckpoints(root / "data", id, interrupted.checkpoint().output_dir())
          .newest;
  ASSERT_GT(newest.step(), 0);
  Moed again(root / "data");
  const moe::v1::Job done = again.WaitForState(id, moe::v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(done.restarts(), 0) << "a damaged checkpoint is not the job's crash";
  const auto attempts = again.client().Attempts(id);
  ASSERT_GE(attempts->attempts_size(), 3);
  EXPECT_EQ(attempts->attempts(1).resume_from(), newest.path());
  EXPECT_EQ(attempts->attempts(1).cause(), moe::v1::ATTEMPT_CAUSE_BAD_CHECKPOINT);
  EXPECT_EQ(attempts->attempts(1).exit_code(), 5);
  EXPECT_NE(attempts->attempts(2).resume_from(), newest.path());
  EXPECT_THAT(attempts->attempts(2).resume_from(), HasSubstr("checkpoint-step-"));
  EXPECT_TRUE(FinalModel(reference) == FinalModel(interrupted)) << "final weights differ";
  EXPECT_THAT(again.log(), HasSubstr("failed verification"));
}

}  // namespace
}  // namespace moe::server
