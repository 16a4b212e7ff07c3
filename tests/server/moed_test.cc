// moed end to end: a real moed process on a loopback port with a temporary data directory,
// real moe-worker processes, a tiny CPU job, and moectl's client library (or binary). Covers
// submit -> COMPLETED with checkpoints catalogued, logs, cancel, a worker killed mid-run, moed
// and its workers killed mid-run (a vanished machine), a job that always fails, a bad spec.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/job_client.h"
#include "common/checkpoint_manifest.h"
#include "common/proto_yaml.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plan/job_plan.h"
#include "tests/testing/moed_process.h"
#include "tests/testing/train_test_util.h"

extern char** environ;

namespace moe::server {
namespace {

namespace fs = std::filesystem;
using testing::Clock;
using testing::FinalModel;
using ::testing::HasSubstr;
using testing::Job;
using testing::Moed;
using testing::ReadFile;
using testing::Submit;
using testing::WorkerPids;

TEST(Moed, RunsAJobToCompletionAndCataloguesItsCheckpoints) {
  const fs::path root = worker::testing::FreshDir("moed_complete");
  Moed moed(root / "data");
  const moe::v1::JobSpec spec = Job(root / "out", 10);
  const int64_t id = Submit(moed, spec);
  std::vector<moe::v1::JobProgress> progress;
  ASSERT_TRUE(
      moed.client().Watch(id, [&](const moe::v1::JobProgress& p) { progress.push_back(p); }).ok());
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back().job().state(), moe::v1::JOB_STATE_COMPLETED) << moed.log();
  int64_t last_step = 0, watched_checkpoints = 0;
  for (const auto& p : progress) {
    for (const auto& s : p.steps()) {
      EXPECT_GT(s.step(), last_step);  // in order, each once
      last_step = s.step();
      double sum = 0;
      for (double share : s.expert_share()) sum += share;
      EXPECT_NEAR(sum, 1.0, 1e-9);
    }
    watched_checkpoints += p.checkpoints_size();
  }
  EXPECT_EQ(last_step, 10);
  const auto checkpoints = moed.client().Checkpoints(id);
  ASSERT_TRUE(checkpoints.ok());
  ASSERT_EQ(checkpoints->checkpoints_size(), 2);  // steps 10 and 5, newest first
  EXPECT_EQ(watched_checkpoints, 2);
  const moe::v1::Checkpoint& newest = checkpoints->checkpoints(0);
  EXPECT_EQ(newest.step(), 10);
  EXPECT_EQ(newest.world_size(), 2);
  EXPECT_TRUE(fs::exists(fs::path(newest.path()) / "manifest.json"));
  EXPECT_GT(newest.bytes(), 0u);
  EXPECT_EQ(newest.manifest_sha256().size(), 64u);
  // How each was saved: step 5 in the background (training waited only for the host copy),
  // step 10, the final one, synchronously; the interval and its reason are catalogued.
  const moe::v1::Checkpoint& periodic = checkpoints->checkpoints(1);
  EXPECT_TRUE(periodic.async());
  EXPECT_FALSE(newest.async());
  EXPECT_GT(periodic.stall_seconds(), 0);
  EXPECT_LT(periodic.stall_seconds(), periodic.save_seconds());
  EXPECT_DOUBLE_EQ(newest.stall_seconds(), newest.save_seconds());
  EXPECT_EQ(newest.interval_steps(), 5);
  EXPECT_EQ(newest.interval_why(), "checkpoint.save_steps");
  const std::string status_out = (root / "status.txt").string();
  ASSERT_EQ(std::system(absl::StrCat(MOECTL_BIN, " --server ", moed.address(), " status ", id,
                                     " > ", status_out, " 2>&1")
                            .c_str()),
            0);
  EXPECT_THAT(ReadFile(status_out), HasSubstr("saves       every 5 steps: checkpoint.save_steps"));
  EXPECT_THAT(ReadFile(status_out), HasSubstr("training waited"));

  std::string log;
  moe::v1::GetLogsRequest request;
  request.set_id(id);
  ASSERT_TRUE(moed.client().Logs(request, [&](const std::string& d) { log += d; }).ok());
  EXPECT_THAT(log, HasSubstr("step 10/10"));
  request.set_rank(2);
  EXPECT_EQ(moed.client().Logs(request, [](const std::string&) {}).code(),
            absl::StatusCode::kInvalidArgument);
  const auto attempts = moed.client().Attempts(id);
  ASSERT_EQ(attempts->attempts_size(), 1);
  EXPECT_EQ(attempts->attempts(0).cause(), moe::v1::ATTEMPT_CAUSE_COMPLETED);
}

TEST(Moed, CancelStopsTheWorkers) {
  const fs::path root = worker::testing::FreshDir("moed_cancel");
  Moed moed(root / "data");
  const int64_t id = Submit(moed, Job(root / "out", 100000));
  moed.WaitFor(id, [](const moe::v1::Job& j) { return j.step() > 0; });
  EXPECT_EQ(WorkerPids(root / "data", id).size(), 2u);
  const auto running = moed.client().Resume(id, 0, 0);  // it is running: nothing to resume
  EXPECT_EQ(running.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(running.status().message()), HasSubstr("is running"));
  const auto asked = Clock::now();
  ASSERT_TRUE(moed.client().Cancel(id).ok());
  const moe::v1::Job cancelled = moed.WaitForState(id, moe::v1::JOB_STATE_CANCELLED, 30);
  // SIGTERM stops the workers at the next step (moed's grace period before SIGKILL is 10 s),
  // with a checkpoint of that step.
  EXPECT_LT(Clock::now() - asked, std::chrono::seconds(5));
  const auto checkpoints = moed.client().Checkpoints(id);
  ASSERT_FALSE(checkpoints->checkpoints().empty());
  EXPECT_EQ(checkpoints->checkpoints(0).step(), cancelled.step());
  EXPECT_TRUE(WorkerPids(root / "data", id).empty());
  const auto attempts = moed.client().Attempts(id);
  EXPECT_EQ(attempts->attempts(0).cause(), moe::v1::ATTEMPT_CAUSE_CANCELLED);
  EXPECT_EQ(moed.client().Cancel(id).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(Moed, JobsRunningAtOnceGetDisjointDevicesThroughMoedsOwnVisibleList) {
  // Four slots over moed's GPUs 7,6,5,4: the first job's ranks see the first two, the second's
  // the other two, each rank its job's list with LOCAL_RANK picking its own (as torchrun).
  const fs::path root = worker::testing::FreshDir("devices");
  Moed moed(root / "data", "--slots 4", "CUDA_VISIBLE_DEVICES=7,6,5,4");
  const int64_t first = Submit(moed, Job(root / "first", 30));
  const int64_t second = Submit(moed, Job(root / "second", 30));
  moed.WaitForState(first, moe::v1::JOB_STATE_COMPLETED);
  moed.WaitForState(second, moe::v1::JOB_STATE_COMPLETED);
  const auto seen = [&](int64_t job) {
    std::vector<std::string> lists;
    for (const auto& attempt : fs::directory_iterator(root / "data/jobs" / std::to_string(job))) {
      if (!attempt.is_directory()) continue;
      for (int rank = 0; rank < 2; ++rank) {
        const std::string log = ReadFile(attempt.path() / absl::StrCat("rank-", rank, ".log"));
        std::smatch match;
        EXPECT_TRUE(
            std::regex_search(log, match,
                              std::regex(absl::StrCat("rank ", rank,
                                                      " of 2: device cpu "
                                                      "\\(LOCAL_RANK ",
                                                      rank, ", CUDA_VISIBLE_DEVICES (\\S+)\\)"))))
            << log;
        lists.push_back(match.size() > 1 ? match[1].str() : "");
      }
    }
    return lists;
  };
  EXPECT_EQ(seen(first), (std::vector<std::string>{"7,6", "7,6"}));
  EXPECT_EQ(seen(second), (std::vector<std::string>{"5,4", "5,4"}));
}

TEST(Moed, AKilledWorkerRestartsTheJobFromItsNewestCheckpointWithTheSameResult) {
  const fs::path root = worker::testing::FreshDir("moed_kill_worker");
  Moed moed(root / "data");
  const moe::v1::JobSpec reference = Job(root / "reference", 60),
                         interrupted = Job(root / "interrupted", 60);
  const int64_t ref = Submit(moed, reference);
  moed.WaitForState(ref, moe::v1::JOB_STATE_COMPLETED);
  const int64_t id = Submit(moed, interrupted);
  moed.WaitFor(id, [&](const moe::v1::Job& j) {
    return j.step() >= 7 && !moed.client().Checkpoints(id)->checkpoints().empty();
  });
  const std::vector<pid_t> workers = WorkerPids(root / "data", id);
  ASSERT_EQ(workers.size(), 2u);
  kill(workers[1], SIGKILL);
  const moe::v1::Job done = moed.WaitForState(id, moe::v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(done.restarts(), 1);
  const auto attempts = moed.client().Attempts(id);
  ASSERT_EQ(attempts->attempts_size(), 2);
  EXPECT_EQ(attempts->attempts(0).cause(), moe::v1::ATTEMPT_CAUSE_SIGNALED);
  EXPECT_EQ(attempts->attempts(0).signal(), SIGKILL);
  EXPECT_THAT(attempts->attempts(1).resume_from(), HasSubstr("checkpoint-step-"));
  EXPECT_FALSE(FinalModel(reference).empty());
  EXPECT_TRUE(FinalModel(reference) == FinalModel(interrupted)) << "final weights differ";
}

TEST(Moed, AnEarlierRunsCheckpointInTheSameOutputDirectoryIsNotAdopted) {
  const fs::path root = worker::testing::FreshDir("moed_reused_output");
  Moed moed(root / "data");
  const int64_t earlier = Submit(moed, Job(root / "out", 10));
  moed.WaitForState(earlier, moe::v1::JOB_STATE_COMPLETED);
  ASSERT_TRUE(fs::exists(root / "out" / "checkpoint-step-10"));
  // Forgotten by the catalogue (its files kept), its directory may be used again: a second
  // job there, with no checkpoint of its own when a worker dies.
  ASSERT_TRUE(moed.client().Delete(earlier, /*files=*/false).ok());
  moe::v1::JobSpec again = Job(root / "out", 100000);
  again.mutable_checkpoint()->set_save_steps(0);
  const int64_t id = Submit(moed, again);
  moed.WaitFor(id, [](const moe::v1::Job& j) { return j.step() >= 2; });
  const std::vector<pid_t> workers = WorkerPids(root / "data", id);
  ASSERT_EQ(workers.size(), 2u);
  kill(workers[0], SIGKILL);
  moed.WaitFor(
      id, [&](const moe::v1::Job&) { return moed.client().Attempts(id)->attempts_size() >= 2; });
  const auto attempts = moed.client().Attempts(id);
  EXPECT_EQ(attempts->attempts(1).resume_from(), "") << "resumed from the earlier run's checkpoint";
  EXPECT_TRUE(moed.client().Checkpoints(id)->checkpoints().empty());
  ASSERT_TRUE(moed.client().Cancel(id).ok());
  moed.WaitForState(id, moe::v1::JOB_STATE_CANCELLED, 60);
}

TEST(Moed, AnUnrecordedCheckpointIsHashedOffTheLockSoMoedKeepsAnswering) {
  const fs::path root = worker::testing::FreshDir("moed_adopt_off_lock");
  Moed moed(root / "data");
  const int64_t id = Submit(moed, Job(root / "out", 100000));
  moed.WaitFor(id, [&](const moe::v1::Job&) {
    auto c = moed.client().Checkpoints(id);
    return c.ok() && c->checkpoints_size() > 0;
  });
  // A committed checkpoint whose report never arrived, with 3 GiB to hash (a sparse file: the
  // hashing costs CPU, not disk).
  const fs::path real = moed.client().Checkpoints(id)->checkpoints(0).path();
  const fs::path unrecorded = root / "out" / "checkpoint-step-90000000";
  fs::copy(real, unrecorded);
  std::ofstream(unrecorded / "ballast.bin").close();
  fs::resize_file(unrecorded / "ballast.bin", 3ull << 30);
  auto manifest = common::ReadJsonFile(unrecorded / common::kManifestFile);
  ASSERT_TRUE(manifest.ok());
  (*manifest)["files"]["ballast.bin"] = {
      {"bytes", 3ull << 30}, {"sha256", *common::Sha256File(unrecorded / "ballast.bin")}};
  std::ofstream(unrecorded / common::kManifestFile) << manifest->dump(2);

  // A worker dies: moed looks for unrecorded checkpoints, hashing the 3 GiB, while a probe
  // that needs the coordinator's lock (a cancel of a job that does not exist) keeps asking.
  std::atomic<bool> done{false};
  double slowest = 0;
  std::thread probe([&] {
    while (!done) {
      const auto asked = Clock::now();
      EXPECT_EQ(moed.client().Cancel(999999).status().code(), absl::StatusCode::kNotFound);
      slowest = std::max(slowest, std::chrono::duration<double>(Clock::now() - asked).count());
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  const std::vector<pid_t> workers = WorkerPids(root / "data", id);
  ASSERT_EQ(workers.size(), 2u);
  const auto killed = Clock::now();
  kill(workers[0], SIGKILL);
  moed.WaitFor(id, [&](const moe::v1::Job&) {
    auto c = moed.client().Checkpoints(id);
    return c.ok() && c->checkpoints(0).path() == unrecorded.string();
  });
  const double adopted_after = std::chrono::duration<double>(Clock::now() - killed).count();
  done = true;
  probe.join();
  EXPECT_GT(adopted_after, 0.5) << "the hashing took too little time to tell";
  EXPECT_LT(slowest, 0.25) << "a call waited " << slowest << " s on the coordinator's lock";
  std::cout << "adopted after " << adopted_after << " s; slowest locked call " << slowest << " s"
            << std::endl;
  ASSERT_TRUE(moed.client().Cancel(id).ok());
  moed.WaitForState(id, moe::v1::JOB_STATE_CANCELLED, 120);
}

TEST(Moed, ARankStuckInACollectiveIsCaughtByTheStallWatchdogThoughHeartbeatsGoOn) {
  const fs::path root = worker::testing::FreshDir("moed_stall");
  // Heartbeats would take 10 minutes to notice; the watchdog: 10 x the median step, >= 2 s.
  Moed moed(root / "data", "--heartbeat-timeout 600 --stall-factor 10 --stall-min 2");
  const int64_t id = Submit(moed, Job(root / "out", 100000));
  moed.WaitFor(id, [](const moe::v1::Job& j) { return j.step() >= 8; });
  const std::vector<pid_t> workers = WorkerPids(root / "data", id);
  ASSERT_EQ(workers.size(), 2u);
  // Rank 1 stops; rank 0 waits for it inside the next all-reduce, its heartbeat thread alive.
  const auto stopped = Clock::now();
  kill(workers[1], SIGSTOP);
  moed.WaitFor(
      id, [&](const moe::v1::Job&) { return moed.client().Attempts(id)->attempts_size() >= 2; });
  const double caught_after = std::chrono::duration<double>(Clock::now() - stopped).count();
  const auto attempts = moed.client().Attempts(id);
  EXPECT_EQ(attempts->attempts(0).cause(), moe::v1::ATTEMPT_CAUSE_STALLED);
  EXPECT_LT(caught_after, 60) << "not the 300 s collective timeout, nor the heartbeat's 600 s";
  EXPECT_EQ(moed.client().Get(id)->restarts(), 1);
  EXPECT_THAT(moed.log(), HasSubstr("a rank is stuck"));
  ASSERT_TRUE(moed.client().Cancel(id).ok());
  moed.WaitForState(id, moe::v1::JOB_STATE_CANCELLED, 60);
}

TEST(Moed, AHungWorkerIsDetectedByItsSilenceAndTheJobRestarts) {
  const fs::path root = worker::testing::FreshDir("moed_hang");
  Moed moed(root / "data", "--heartbeat-timeout 2");
  const int64_t id = Submit(moed, Job(root / "out", 60));
  moed.WaitFor(id, [&](const moe::v1::Job& j) {
    return j.step() >= 7 && !moed.client().Checkpoints(id)->checkpoints().empty();
  });
  const std::vector<pid_t> workers = WorkerPids(root / "data", id);
  ASSERT_EQ(workers.size(), 2u);
  kill(workers[1], SIGSTOP);  // alive but silent, as a worker stuck in a collective
  const moe::v1::Job done = moed.WaitForState(id, moe::v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(done.restarts(), 1);
  const auto attempts = moed.client().Attempts(id);
  ASSERT_EQ(attempts->attempts_size(), 2);
  EXPECT_EQ(attempts->attempts(0).cause(), moe::v1::ATTEMPT_CAUSE_HEARTBEAT_TIMEOUT);
}

TEST(Moed, AfterTheMachineVanishedMoedResumesTheJobByItself) {
  const fs::path root = worker::testing::FreshDir("moed_vanish");
  const moe::v1::JobSpec reference = Job(root / "reference", 60),
                         interrupted = Job(root / "interrupted", 60);
  int64_t id = 0;
  {
    Moed moed(root / "data");
    const int64_t ref = Submit(moed, reference);
    moed.WaitForState(ref, moe::v1::JOB_STATE_COMPLETED);
    id = Submit(moed, interrupted);
    moed.WaitFor(id, [&](const moe::v1::Job& j) {
      return j.step() >= 7 && !moed.client().Checkpoints(id)->checkpoints().empty();
    });
    const std::vector<pid_t> workers = WorkerPids(root / "data", id);
    ASSERT_EQ(workers.size(), 2u);
    moed.Kill(SIGKILL);  // and the workers with it, as a vanished machine would
    for (pid_t pid : workers) kill(pid, SIGKILL);
  }
  for (int i = 0; i < 100 && !WorkerPids(root / "data", id).empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const auto restarted_at = Clock::now();
  Moed again(root / "data");
  const moe::v1::Job done = again.WaitForState(id, moe::v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(done.restarts(), 0);  // an interruption is not a crash
  const auto attempts = again.client().Attempts(id);
  ASSERT_EQ(attempts->attempts_size(), 2);
  EXPECT_EQ(attempts->attempts(0).cause(), moe::v1::ATTEMPT_CAUSE_INTERRUPTED);
  EXPECT_THAT(attempts->attempts(1).resume_from(), HasSubstr("checkpoint-step-"));
  EXPECT_TRUE(FinalModel(reference) == FinalModel(interrupted)) << "final weights differ";
  std::cout << "moed start to resumed job completion: "
            << std::chrono::duration<double>(Clock::now() - restarted_at).count() << " s\n";
}

TEST(Moed, ACancelledJobResumesOnFewerWorkersKeepingTheGlobalBatch) {
  const fs::path root = worker::testing::FreshDir("moed_resume");
  Moed moed(root / "data");
  const moe::v1::JobSpec spec = Job(root / "out", 150);
  const int64_t id = Submit(moed, spec);
  moed.WaitFor(id, [&](const moe::v1::Job&) {
    return !moed.client().Checkpoints(id)->checkpoints().empty();
  });
  ASSERT_TRUE(moed.client().Cancel(id).ok());
  moed.WaitForState(id, moe::v1::JOB_STATE_CANCELLED, 30);
  const int64_t saved = moed.client().Checkpoints(id)->checkpoints(0).step();
  EXPECT_EQ(moed.client().Resume(id, 0, 3).status().code(), absl::StatusCode::kInvalidArgument);
  const auto resumed = moed.client().Resume(id, 0, 1);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->world_size(), 1);
  moed.WaitForState(id, moe::v1::JOB_STATE_COMPLETED);
  const auto attempts = moed.client().Attempts(id);
  ASSERT_EQ(attempts->attempts_size(), 2);
  EXPECT_EQ(attempts->attempts(1).world_size(), 1);
  EXPECT_THAT(attempts->attempts(1).resume_from(),
              HasSubstr(absl::StrCat("checkpoint-step-", saved)));
  std::string log;
  moe::v1::GetLogsRequest request;
  request.set_id(id);
  ASSERT_TRUE(moed.client().Logs(request, [&](const std::string& d) { log += d; }).ok());
  EXPECT_THAT(log, HasSubstr("1 ranks where the spec plans 2: gradient accumulation 2 (not 1)"));
  const auto last = moed.client().Checkpoints(id)->checkpoints(0);
  EXPECT_EQ(last.step(), 150);
  EXPECT_EQ(last.world_size(), 1);
  EXPECT_EQ(moed.client().Resume(id, 0, 0).status().code(),
            absl::StatusCode::kFailedPrecondition);  // COMPLETED is final
}

TEST(Moed, AJobThatAlwaysCrashesFailsAfterMaxRestartsWithItsCause) {
  const fs::path root = worker::testing::FreshDir("moed_crash");
  Moed moed(root / "data", "--worker-bin /bin/false --backoff-max 0.05");
  moe::v1::JobSpec spec = Job(root / "out", 10);
  spec.mutable_resources()->set_max_restarts(2);
  const int64_t id = Submit(moed, spec);
  const moe::v1::Job failed = moed.WaitForState(id, moe::v1::JOB_STATE_FAILED, 30);
  EXPECT_EQ(failed.restarts(), 2);
  EXPECT_THAT(failed.failure(), HasSubstr("gave up after 2 restarts"));
  EXPECT_THAT(failed.failure(), HasSubstr("exited with an error"));
  EXPECT_EQ(moed.client().Attempts(id)->attempts_size(), 3);
}

TEST(Moed, ABadSpecIsRejectedWithEveryProblemAndNothingIsQueued) {
  const fs::path root = worker::testing::FreshDir("moed_bad");
  Moed moed(root / "data");
  // Through moectl: a typo in a key is named with its line.
  const fs::path bad = root / "bad.yaml";
  std::ofstream(bad) << "name: x\ntraining:\n  micro_batch: 4\n";
  const std::string out = (root / "moectl.out").string();
  const int status = std::system(absl::StrCat(MOECTL_BIN, " --server ", moed.address(), " submit ",
                                              bad.string(), " > ", out, " 2>&1")
                                     .c_str());
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_THAT(ReadFile(out), HasSubstr("bad.yaml:3: training.micro_batch: unknown field"));
  // Straight to the API: moed validates too.
  moe::v1::JobSpec spec = Job(root / "out", 10);
  spec.mutable_data()->set_train_file("/nonexistent.jsonl");
  spec.mutable_training()->set_learning_rate(-1);
  const auto refused = moed.client().Submit(spec);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("data.train_file"));
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("training.learning_rate"));
  spec = Job(root / "out", 10);
  spec.mutable_resources()->set_world_size(3);  // more than the 2 slots
  EXPECT_THAT(std::string(moed.client().Submit(spec).status().message()),
              HasSubstr("2 device slots"));
  EXPECT_EQ(moed.client().List()->jobs_size(), 0);
}

TEST(Moed, AJobThatCannotFitInMemoryIsRefusedAtSubmitAndATightOneIsWarnedOf) {
  const fs::path root = worker::testing::FreshDir("moed_memory");
  moe::v1::JobSpec spec = Job(root / "out", 10);
  const int64_t need = plan::PlanJob(spec, {}).value().need;  // a CPU job: its node's memory
  const fs::path file = root / "job.yaml";
  std::ofstream(file) << common::MessageToYaml(spec);
  {
    Moed moed(root / "small", absl::StrCat("--nvml-library /nonexistent --host-memory ", need - 1));
    const std::string out = (root / "moectl.out").string();
    const int status = std::system(absl::StrCat(MOECTL_BIN, " --server ", moed.address(),
                                                " submit ", file.string(), " > ", out, " 2>&1")
                                       .c_str());
    EXPECT_EQ(WEXITSTATUS(status), 2) << ReadFile(out);
    EXPECT_THAT(ReadFile(out), HasSubstr("does not fit in memory: needs"));
    EXPECT_THAT(ReadFile(out), HasSubstr("per node"));
    EXPECT_EQ(moed.client().List()->jobs_size(), 0);
  }
  Moed moed(root / "tight", absl::StrCat("--nvml-library /nonexistent --host-memory ", need));
  const int64_t id = Submit(moed, spec);
  ASSERT_GT(id, 0);
  EXPECT_THAT(moed.log(), HasSubstr(absl::StrCat("job ", id, ": memory is tight, within 5%")));
  moed.client().Cancel(id).IgnoreError();
  moed.WaitFor(id, [](const moe::v1::Job& j) { return j.state() >= moe::v1::JOB_STATE_COMPLETED; });
}

TEST(Moectl, ExitCodesAndUnreachableMoed) {
  const std::string out = worker::testing::FreshDir("moectl_codes").string() + "/out";
  int status =
      std::system(absl::StrCat(MOECTL_BIN, " --server 127.0.0.1:1 list > ", out, " 2>&1").c_str());
  EXPECT_EQ(WEXITSTATUS(status), 4);
  EXPECT_THAT(ReadFile(out), HasSubstr("cannot reach moed at 127.0.0.1:1"));
  status = std::system(absl::StrCat(MOECTL_BIN, " frobnicate > ", out, " 2>&1").c_str());
  EXPECT_EQ(WEXITSTATUS(status), 2);
  // An unusable token file is a usage error, said in words (moectl returns; it does not exit
  // from inside its commands).
  const std::string empty_token = worker::testing::FreshDir("moectl_token").string() + "/token";
  std::ofstream(empty_token).close();
  status = std::system(
      absl::StrCat(MOECTL_BIN, " --token-file ", empty_token, " list > ", out, " 2>&1").c_str());
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_THAT(ReadFile(out), HasSubstr("its first line is empty"));
  // Ids out of range are usage errors, refused before any call (not clamped to the largest).
  for (const char* args : {"status 99999999999999999999", "cancel 0", "logs 1 --rank -1",
                           "resume 1 --from-step 1e3", "delete 1.5"}) {
    status = std::system(
        absl::StrCat(MOECTL_BIN, " --server 127.0.0.1:1 ", args, " > ", out, " 2>&1").c_str());
    EXPECT_EQ(WEXITSTATUS(status), 2) << args;
    EXPECT_THAT(ReadFile(out), HasSubstr("is not a whole number from")) << args;
  }
}

}  // namespace
}  // namespace moe::server
