// moed under hostile clients and unlucky operators (real moed and moe-worker processes on
// loopback): forged worker reports, a second moed on the same data directory, two jobs on one
// output directory, submits that cannot be written, a long job list, a damaged catalogue.
#include <grpcpp/grpcpp.h>

#include <fstream>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/checkpoint_manifest.h"
#include "common/output_owner.h"
#include "common/worker_token.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "moe/v1/service.grpc.pb.h"
#include "server/catalogue.h"
#include "tests/testing/moed_process.h"
#include "tests/testing/train_test_util.h"

namespace moe::server {
namespace {

namespace fs = std::filesystem;
using testing::Clock;
using ::testing::HasSubstr;
using testing::Job;
using testing::Moed;
using testing::ReadFile;
using testing::Submit;
using testing::WorkerPids;

// A process's environment, NAME -> VALUE.
std::map<std::string, std::string> EnvironmentOf(pid_t pid) {
  std::map<std::string, std::string> env;
  for (absl::string_view var :
       absl::StrSplit(ReadFile(absl::StrCat("/proc/", pid, "/environ")), '\0', absl::SkipEmpty())) {
    const size_t eq = var.find('=');
    if (eq != absl::string_view::npos)
      env[std::string(var.substr(0, eq))] = std::string(var.substr(eq + 1));
  }
  return env;
}

// One WorkerService call as a forger would make it: `token` "" sends none.
grpc::Status ForgeCheckpoint(const std::string& address, const moe::v1::WorkerRef& who,
                             const std::string& token, const moe::v1::Checkpoint& checkpoint) {
  auto stub = moe::v1::WorkerService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  if (!token.empty()) context.AddMetadata(common::kWorkerTokenHeader, token);
  moe::v1::ReportCheckpointRequest request;
  *request.mutable_worker() = who;
  *request.mutable_checkpoint() = checkpoint;
  moe::v1::WorkerReply reply;
  return stub->ReportCheckpoint(&context, request, &reply);
}

grpc::Status ForgeSteps(const std::string& address, const moe::v1::WorkerRef& who,
                        const std::string& token) {
  auto stub = moe::v1::WorkerService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  if (!token.empty()) context.AddMetadata(common::kWorkerTokenHeader, token);
  moe::v1::ReportStepsRequest request;
  *request.mutable_worker() = who;
  moe::v1::StepMetrics* step = request.add_steps();
  step->set_step(999999);
  step->set_total_steps(1000000);
  moe::v1::WorkerReply reply;
  return stub->ReportSteps(&context, request, &reply);
}

TEST(Hostile, ForgedWorkerReportsAreRefusedAndDeleteNothing) {
  const fs::path root = worker::testing::FreshDir("hostile_forged");
  Moed moed(root / "data");
  moe::v1::JobSpec spec = Job(root / "out", 100000);
  spec.mutable_checkpoint()->set_keep_last(2);
  const int64_t id = Submit(moed, spec);
  moed.WaitFor(id, [&](const moe::v1::Job& job) {
    auto checkpoints = moed.client().Checkpoints(id);
    return job.state() == moe::v1::JOB_STATE_RUNNING && checkpoints.ok() &&
           checkpoints->checkpoints_size() >= 2;
  });
  auto attempts = moed.client().Attempts(id);
  ASSERT_TRUE(attempts.ok() && attempts->attempts_size() == 1);
  const int64_t attempt = attempts->attempts(0).id();
  auto checkpoints = moed.client().Checkpoints(id);
  ASSERT_TRUE(checkpoints.ok());
  const int64_t newest = checkpoints->checkpoints(0).step();

  // The forgery of the issue: the job's next-but-far checkpoint, a directory that does not exist.
  moe::v1::WorkerRef who;
  who.set_job_id(id);
  who.set_attempt_id(attempt);
  who.set_rank(0);
  moe::v1::Checkpoint forged;
  forged.set_step(newest + 1000);
  forged.set_path((root / "out" / common::CheckpointName(newest + 1000)).string());
  EXPECT_EQ(ForgeCheckpoint(moed.address(), who, "", forged).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(ForgeSteps(moed.address(), who, "").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(ForgeSteps(moed.address(), who, common::NewWorkerSecret().substr(0, 64)).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  // A real rank's token: not on its command line, and good for that rank only.
  const std::vector<pid_t> pids = WorkerPids(root / "data", id);
  ASSERT_EQ(pids.size(), 2u);
  std::map<int, std::string> tokens;
  for (pid_t pid : pids) {
    auto env = EnvironmentOf(pid);
    tokens[std::stoi(env["RANK"])] = env[common::kWorkerTokenVariable];
    EXPECT_EQ(env.count(common::kWorkerSecretVariable), 0u);
    EXPECT_THAT(ReadFile(absl::StrCat("/proc/", pid, "/cmdline")),
                ::testing::Not(HasSubstr(env[common::kWorkerTokenVariable])));
  }
  ASSERT_EQ(tokens.size(), 2u);
  ASSERT_EQ(tokens[0].size(), 64u);
  EXPECT_NE(tokens[0], tokens[1]);
  EXPECT_EQ(ForgeSteps(moed.address(), who, tokens[1]).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);  // rank 1's token claiming rank 0
  moe::v1::WorkerRef other_job = who;
  other_job.set_job_id(id + 1);
  EXPECT_NE(ForgeSteps(moed.address(), other_job, tokens[0]).error_code(), grpc::StatusCode::OK);
  // Even with rank 0's own token, a checkpoint that is not on disk is not recorded.
  const grpc::Status missing = ForgeCheckpoint(moed.address(), who, tokens[0], forged);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << missing.error_message();
  // Nor one elsewhere than the job's output directory.
  forged.set_path((root / "elsewhere" / common::CheckpointName(newest + 1000)).string());
  EXPECT_EQ(ForgeCheckpoint(moed.address(), who, tokens[0], forged).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  ASSERT_TRUE(moed.client().Cancel(id).ok());
  const moe::v1::Job ended = moed.WaitForState(id, moe::v1::JOB_STATE_CANCELLED);
  EXPECT_LT(ended.step(), 999999);
  checkpoints = moed.client().Checkpoints(id);
  ASSERT_TRUE(checkpoints.ok());
  ASSERT_GE(checkpoints->checkpoints_size(), 2);
  for (const moe::v1::Checkpoint& c : checkpoints->checkpoints()) {
    EXPECT_LT(c.step(), newest + 1000);
    EXPECT_TRUE(common::VerifyCheckpoint(c.path()).ok()) << c.path();
  }
  // The secret and the tokens appear in no log.
  std::string logs = moed.log();
  for (const auto& entry : fs::recursive_directory_iterator(root / "data" / "jobs")) {
    if (entry.path().extension() == ".log") logs += ReadFile(entry.path());
  }
  for (const auto& [rank, token] : tokens) EXPECT_THAT(logs, ::testing::Not(HasSubstr(token)));
}

// Runs `command` through the shell; its exit code and what it printed (stdout and stderr).
std::pair<int, std::string> RunShell(const std::string& command) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  std::string output;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof(buffer), pipe)) output.append(buffer, n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

TEST(Hostile, ASecondMoedOnTheSameDataDirectoryExitsAtOnce) {
  const fs::path root = worker::testing::FreshDir("hostile_second_moed");
  Moed first(root / "data");
  const int64_t id = Submit(first, Job(root / "out", 100000));
  first.WaitForState(id, moe::v1::JOB_STATE_RUNNING);
  const auto [code, output] =
      RunShell(absl::StrCat("timeout 20 ", MOED_BIN, " --data-dir ", (root / "data").string(),
                            " --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 --slots 2"));
  EXPECT_EQ(code, 1) << output;
  EXPECT_THAT(output, HasSubstr((root / "data").string()));
  EXPECT_THAT(output, HasSubstr(absl::StrCat("pid ", first.pid())));
  // The first one's job is untouched: still running, its workers the same.
  const auto job = first.client().Get(id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state(), moe::v1::JOB_STATE_RUNNING);
  auto attempts = first.client().Attempts(id);
  ASSERT_TRUE(attempts.ok());
  EXPECT_EQ(attempts->attempts_size(), 1);
  EXPECT_EQ(WorkerPids(root / "data", id).size(), 2u);
  // Once the first is gone (killed: the kernel drops its lock), another may take over.
  first.Kill(SIGKILL);
  Moed second(root / "data");
  second.WaitForState(id, moe::v1::JOB_STATE_RUNNING);
}

TEST(Hostile, TwoJobsNeverShareAnOutputDirectory) {
  const fs::path root = worker::testing::FreshDir("hostile_shared_output");
  Moed moed(root / "data");
  const moe::v1::JobSpec explicit_spec = Job(root / "out", 10);
  const int64_t first = Submit(moed, explicit_spec);
  // The same explicit directory again: refused, naming the job that has it.
  const auto second = moed.client().Submit(explicit_spec);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(second.status().message()),
              HasSubstr(absl::StrCat("belongs to job ", first)));
  // Nor through another spelling of it (a link): the owner marker tells.
  fs::create_directory_symlink(root / "out", root / "alias");
  const auto aliased = moed.client().Submit(Job(root / "alias", 10));
  EXPECT_EQ(aliased.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(aliased.status().message()),
              HasSubstr(absl::StrCat("belongs to job ", first)));
  // A spec without output_dir, submitted twice: two jobs, two directories under the default.
  moe::v1::JobSpec defaulted = Job(root / "runs" / "tiny", 10);
  const auto a = moed.client().Submit(defaulted, /*unique_output_dir=*/true);
  const auto b = moed.client().Submit(defaulted, /*unique_output_dir=*/true);
  ASSERT_TRUE(a.ok() && b.ok()) << a.status() << b.status();
  EXPECT_EQ(a->spec().checkpoint().output_dir(),
            (root / "runs/tiny" / std::to_string(a->id())).string());
  EXPECT_EQ(b->spec().checkpoint().output_dir(),
            (root / "runs/tiny" / std::to_string(b->id())).string());
  for (int64_t id : {first, a->id(), b->id()}) {
    moed.WaitForState(id, moe::v1::JOB_STATE_COMPLETED, 240);
  }
  // Each catalogued checkpoint is the job's own file.
  for (const moe::v1::Job& job : {*a, *b}) {
    const fs::path out = job.spec().checkpoint().output_dir();
    EXPECT_THAT(ReadFile(out / common::kOwnerFile), HasSubstr(absl::StrCat(" job ", job.id())));
    auto checkpoints = moed.client().Checkpoints(job.id());
    ASSERT_TRUE(checkpoints.ok());
    ASSERT_GT(checkpoints->checkpoints_size(), 0);
    for (const moe::v1::Checkpoint& c : checkpoints->checkpoints()) {
      EXPECT_EQ(fs::path(c.path()).parent_path(), out);
      EXPECT_EQ(c.manifest_sha256(),
                *common::Sha256File(fs::path(c.path()) / common::kManifestFile));
    }
  }
  // A worker started by hand on a job's directory does not write into it.
  const auto [code, output] =
      RunShell(absl::StrCat(WORKER_BIN, " train --spec ",
                            (root / "data/jobs" / std::to_string(first) / "job.yaml").string()));
  EXPECT_EQ(code, 2) << output;
  EXPECT_THAT(output, HasSubstr(absl::StrCat("belongs to moed ")));
  EXPECT_THAT(output, HasSubstr(absl::StrCat(" job ", first)));
}

TEST(Hostile, ASubmitThatCannotWriteItsFilesQueuesNothing) {
  const fs::path root = worker::testing::FreshDir("hostile_submit");
  Moed moed(root / "data");
  // The next job's directory cannot be made: a file stands where it would go.
  std::ofstream(root / "data/jobs/1") << "in the way";
  const auto refused = moed.client().Submit(Job(root / "out", 10));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr((root / "data/jobs/1").string()));
  EXPECT_EQ(moed.client().List()->jobs_size(), 0);
  // Its job.yaml cannot be written.
  fs::remove(root / "data/jobs/1");
  fs::create_directories(root / "data/jobs/1/job.yaml.tmp");
  const auto again = moed.client().Submit(Job(root / "out", 10));
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(again.status().message()), HasSubstr("job.yaml"));
  EXPECT_EQ(moed.client().List()->jobs_size(), 0);
  // Once the way is clear the same spec is accepted (the output directory was never taken).
  fs::remove_all(root / "data/jobs/1");
  const int64_t id = Submit(moed, Job(root / "out", 100000));
  EXPECT_EQ(id, 1);
  moed.WaitFor(id, [](const moe::v1::Job& job) { return job.step() > 0; });
  ASSERT_TRUE(moed.client().Cancel(id).ok());
  moed.WaitForState(id, moe::v1::JOB_STATE_CANCELLED);
  // Its job.yaml deleted by hand: a resume writes it again from the catalogue and trains on.
  fs::remove(root / "data/jobs/1/job.yaml");
  const int64_t before = moed.client().Get(id)->step();
  ASSERT_TRUE(moed.client().Resume(id, 0, 0).ok());
  moed.WaitFor(id, [&](const moe::v1::Job& job) { return job.step() > before; });
  EXPECT_TRUE(fs::exists(root / "data/jobs/1/job.yaml"));
  EXPECT_EQ(moed.client().Get(id)->restarts(), 0);
  ASSERT_TRUE(moed.client().Cancel(id).ok());
  moed.WaitForState(id, moe::v1::JOB_STATE_CANCELLED);
}

TEST(Hostile, TenThousandJobsListPageByPageAndSpecsHaveALimit) {
  // On tmpfs: 10,000 durable commits are quick there.
  const fs::path root = fs::path("/dev/shm") / absl::StrCat("moe_", getpid(), "_hostile_list");
  fs::remove_all(root);
  fs::create_directories(root / "data");
  constexpr int kJobs = 10000;
  {
    auto catalogue = Catalogue::Open((root / "data/moed.db").string());
    ASSERT_TRUE(catalogue.ok()) << catalogue.status();
    moe::v1::JobSpec spec = Job(root / "out", 10);
    spec.mutable_data()->set_prompt_template(std::string(2000, 'x') + "{question}");
    for (int i = 1; i <= kJobs; ++i) {
      spec.mutable_checkpoint()->set_output_dir((root / "out" / std::to_string(i)).string());
      const auto id = (*catalogue)->CreateJob(spec, "", i);
      ASSERT_TRUE(id.ok()) << id.status();
      ASSERT_TRUE((*catalogue)->SetState(*id, moe::v1::JOB_STATE_CANCELLED, i).ok());
    }
  }
  Moed moed(root / "data");
  std::vector<int64_t> seen;
  moe::v1::ListJobsRequest request;
  request.set_page_size(1000);
  for (int page = 0; page < 20; ++page) {
    const auto response = moed.client().List(request);
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_LT(response->ByteSizeLong(), 4u << 20);
    for (const moe::v1::Job& job : response->jobs()) {
      EXPECT_FALSE(job.has_spec());
      seen.push_back(job.id());
    }
    if (response->next_page_token().empty()) break;
    request.set_page_token(response->next_page_token());
  }
  ASSERT_EQ(seen.size(), static_cast<size_t>(kJobs));
  for (int i = 0; i < kJobs; ++i) EXPECT_EQ(seen[i], kJobs - i);  // newest first, each once
  // Filters: no job is running; the first page oldest first starts at 1.
  request.Clear();
  request.add_states(moe::v1::JOB_STATE_RUNNING);
  EXPECT_EQ(moed.client().List(request)->jobs_size(), 0);
  request.Clear();
  request.set_oldest_first(true);
  request.set_page_size(3);
  const auto oldest = moed.client().List(request);
  ASSERT_TRUE(oldest.ok());
  ASSERT_EQ(oldest->jobs_size(), 3);
  EXPECT_EQ(oldest->jobs(0).id(), 1);
  EXPECT_EQ(oldest->next_page_token(), "3");
  request.set_page_token("not-a-token");
  EXPECT_EQ(moed.client().List(request).status().code(), absl::StatusCode::kInvalidArgument);
  // GetJob still has the whole spec.
  EXPECT_EQ(moed.client().Get(kJobs)->spec().data().prompt_template().size(), 2010u);

  // A spec over 1 MiB: moectl's client refuses it, and so does moed for other clients.
  moe::v1::JobSpec huge = Job(root / "huge", 10);
  huge.mutable_data()->set_prompt_template(std::string(3 << 20, 'x') + "{question}");
  const auto local = moed.client().Submit(huge);
  EXPECT_EQ(local.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(local.status().message()), HasSubstr("1 MiB"));
  huge.mutable_data()->set_prompt_template(std::string(3 << 19, 'x') + "{question}");
  auto stub = moe::v1::JobService::NewStub(
      grpc::CreateChannel(moed.address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  moe::v1::SubmitJobRequest submit;
  *submit.mutable_spec() = huge;
  moe::v1::Job reply;
  const grpc::Status direct = stub->SubmitJob(&context, submit, &reply);
  EXPECT_EQ(direct.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(direct.error_message(), HasSubstr("1 MiB"));
  fs::remove_all(root);
}

TEST(Hostile, OnlyEndedJobsAreDeletedAndTheirFilesOnlyOnRequest) {
  const fs::path root = worker::testing::FreshDir("hostile_delete");
  Moed moed(root / "data");
  const int64_t running = Submit(moed, Job(root / "long", 100000));
  moed.WaitForState(running, moe::v1::JOB_STATE_RUNNING);
  const auto refused = moed.client().Delete(running, true);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("has not ended"));
  EXPECT_TRUE(fs::exists(root / "long"));
  ASSERT_TRUE(moed.client().Cancel(running).ok());
  moed.WaitForState(running, moe::v1::JOB_STATE_CANCELLED);
  const auto kept = moed.client().Delete(running, false);
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(kept->removed_size(), 0);
  EXPECT_EQ(moed.client().Get(running).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(fs::exists(root / "long"));  // the checkpoints stay without --files
  // Its directory is free again for a new job of this moed (the marker names a deleted job).
  const int64_t done = Submit(moed, Job(root / "long", 10));
  moed.WaitForState(done, moe::v1::JOB_STATE_COMPLETED, 240);
  const auto removed = moed.client().Delete(done, true);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(removed->removed_size(), 2);
  EXPECT_FALSE(fs::exists(root / "long"));
  EXPECT_FALSE(fs::exists(root / "data/jobs" / std::to_string(done)));
}

// A small tmpfs at `dir` (root only: the test skips elsewhere); unmounted when destroyed.
class SmallDisk {
 public:
  SmallDisk(const fs::path& dir, const std::string& size) : dir_(dir) {
    fs::create_directories(dir);
    mounted_ =
        RunShell(absl::StrCat("mount -t tmpfs -o size=", size, " tmpfs ", dir.string())).first == 0;
  }
  ~SmallDisk() {
    if (mounted_) RunShell("umount -l " + dir_.string());
  }
  bool mounted() const { return mounted_; }
  bool Resize(const std::string& size) {
    return RunShell(absl::StrCat("mount -o remount,size=", size, " ", dir_.string())).first == 0;
  }

 private:
  fs::path dir_;
  bool mounted_ = false;
};

TEST(Hostile, AFinalSaveOutOfDiskSpaceWaitsForSpaceNotForRetries) {
  const fs::path root = worker::testing::FreshDir("hostile_enospc");
  SmallDisk disk(root / "small", "256k");
  if (!disk.mounted()) GTEST_SKIP() << "needs root to mount a small tmpfs";
  Moed moed(root / "data");
  moe::v1::JobSpec spec = Job(root / "small" / "out", 6);
  spec.mutable_checkpoint()->set_save_steps(0);  // only the final save, which cannot fit
  spec.mutable_logging()->set_tensorboard(false);
  const int64_t id = Submit(moed, spec);
  const moe::v1::Job waiting = moed.WaitFor(id, [](const moe::v1::Job& job) {
    return job.state() == moe::v1::JOB_STATE_QUEUED && !job.waiting().empty();
  });
  EXPECT_THAT(waiting.waiting(), HasSubstr("disk full"));
  EXPECT_THAT(waiting.waiting(), HasSubstr((root / "small/out/checkpoint-step-6").string()));
  EXPECT_EQ(waiting.restarts(), 0);
  auto attempts = moed.client().Attempts(id);
  ASSERT_TRUE(attempts.ok());
  ASSERT_EQ(attempts->attempts_size(), 1);
  EXPECT_EQ(attempts->attempts(0).cause(), moe::v1::ATTEMPT_CAUSE_DISK_FULL);
  EXPECT_EQ(attempts->attempts(0).exit_code(), 7);
  // Not retried while the space is missing.
  std::this_thread::sleep_for(std::chrono::seconds(3));
  EXPECT_EQ(moed.client().Attempts(id)->attempts_size(), 1);
  // Room again: it resumes by itself and completes.
  ASSERT_TRUE(disk.Resize("64m"));
  const moe::v1::Job done = moed.WaitForState(id, moe::v1::JOB_STATE_COMPLETED, 240);
  EXPECT_EQ(done.restarts(), 0);
  EXPECT_TRUE(done.waiting().empty());
  EXPECT_TRUE(common::VerifyCheckpoint(root / "small/out/checkpoint-step-6").ok());
}

TEST(Hostile, ADamagedCatalogueIsRefusedAtStartAndBackupsRestore) {
  const fs::path root = worker::testing::FreshDir("hostile_damaged");
  fs::create_directories(root / "data");
  const fs::path db = root / "data/moed.db";
  {
    auto catalogue = Catalogue::Open(db.string());
    ASSERT_TRUE(catalogue.ok()) << catalogue.status();
    moe::v1::JobSpec spec = Job(root / "out", 10);
    for (int i = 1; i <= 300; ++i) {
      spec.mutable_checkpoint()->set_output_dir((root / "out" / std::to_string(i)).string());
      const auto id = (*catalogue)->CreateJob(spec, "", i);
      ASSERT_TRUE(id.ok());
      ASSERT_TRUE((*catalogue)->SetState(*id, moe::v1::JOB_STATE_CANCELLED, i).ok());
    }
  }
  // A consistent copy, then the catalogue's sound check.
  const auto [backed_up, backup_output] = RunShell(absl::StrCat(
      MOED_BIN, " backup ", (root / "copy.db").string(), " --data-dir ", (root / "data").string()));
  ASSERT_EQ(backed_up, 0) << backup_output;
  const auto [sound, sound_output] =
      RunShell(absl::StrCat(MOED_BIN, " --check --data-dir ", (root / "data").string()));
  EXPECT_EQ(sound, 0) << sound_output;
  // An inner page overwritten with random bytes.
  const uintmax_t pages = fs::file_size(db) / 4096;
  ASSERT_GT(pages, 10u);
  {
    std::fstream file(db, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(pages / 2) * 4096);
    const std::string noise = common::NewWorkerSecret() + common::NewWorkerSecret();
    for (int i = 0; i < 4096 / 128; ++i) file.write(noise.data(), 128);
  }
  const auto [checked, check_output] =
      RunShell(absl::StrCat(MOED_BIN, " --check --data-dir ", (root / "data").string()));
  EXPECT_EQ(checked, 1) << check_output;
  EXPECT_THAT(check_output, HasSubstr("is damaged"));
  const auto [started, start_output] =
      RunShell(absl::StrCat("timeout 20 ", MOED_BIN, " --data-dir ", (root / "data").string(),
                            " --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0"));
  EXPECT_EQ(started, 1) << start_output;
  EXPECT_THAT(start_output, HasSubstr(db.string()));
  EXPECT_THAT(start_output, HasSubstr("is damaged"));
  EXPECT_THAT(start_output, HasSubstr("moed backup"));
  // The backup is whole: restored, moed starts and lists every job.
  fs::copy_file(root / "copy.db", db, fs::copy_options::overwrite_existing);
  fs::remove(root / "data/moed.db-wal");
  fs::remove(root / "data/moed.db-shm");
  Moed moed(root / "data");
  moe::v1::ListJobsRequest request;
  request.set_page_size(1000);
  EXPECT_EQ(moed.client().List(request)->jobs_size(), 300);
}

TEST(Hostile, ACatalogueOnAFullDiskCatchesUpWhenSpaceReturns) {
  const fs::path root = worker::testing::FreshDir("hostile_catalogue_full");
  SmallDisk disk(root / "data", "8m");
  if (!disk.mounted()) GTEST_SKIP() << "needs root to mount a small tmpfs";
  Moed moed(root / "data");
  moe::v1::JobSpec spec = Job(root / "out", 400);  // checkpoints on another disk
  spec.mutable_checkpoint()->set_save_steps(50);
  const int64_t id = Submit(moed, spec);
  moed.WaitFor(id, [](const moe::v1::Job& job) { return job.step() >= 5; });
  // The catalogue's disk fills up while the job runs.
  RunShell(absl::StrCat("head -c 64M /dev/zero > ", (root / "data/filler").string()));
  // The workers finish regardless: every checkpoint on disk, the workers gone.
  const auto finished = Clock::now() + std::chrono::seconds(180);
  while (
      (!fs::exists(root / "out/checkpoint-step-400") || !WorkerPids(root / "data", id).empty()) &&
      Clock::now() < finished) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(fs::exists(root / "out/checkpoint-step-400"));
  std::this_thread::sleep_for(std::chrono::seconds(1));
  // moed says so, takes no new job, and still answers.
  EXPECT_THAT(moed.log(), HasSubstr("cannot write its catalogue"));
  const auto refused = moed.client().Submit(Job(root / "other", 10));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("cannot write its catalogue"));
  ASSERT_TRUE(moed.client().Get(id).ok());
  EXPECT_EQ(moed.client().Get(id)->state(), moe::v1::JOB_STATE_RUNNING) << "not recorded yet";
  // Space returns: the catalogue ends as if nothing had happened.
  fs::remove(root / "data/filler");
  const auto freed = Clock::now();
  const moe::v1::Job done = moed.WaitForState(id, moe::v1::JOB_STATE_COMPLETED, 60);
  std::cout << "reconciled " << std::chrono::duration<double>(Clock::now() - freed).count()
            << " s after space returned" << std::endl;
  EXPECT_EQ(done.step(), 400);
  EXPECT_EQ(done.restarts(), 0);
  const auto attempts = moed.client().Attempts(id);
  ASSERT_EQ(attempts->attempts_size(), 1);
  EXPECT_EQ(attempts->attempts(0).cause(), moe::v1::ATTEMPT_CAUSE_COMPLETED);
  EXPECT_GT(attempts->attempts(0).ended_unix_s(), 0);
  const auto checkpoints = moed.client().Checkpoints(id);
  ASSERT_TRUE(checkpoints.ok());
  ASSERT_EQ(checkpoints->checkpoints_size(), 8);  // 50, 100, ..., 400
  EXPECT_EQ(checkpoints->checkpoints(0).step(), 400);
  std::vector<int64_t> steps;
  ASSERT_TRUE(moed.client()
                  .Watch(id,
                         [&](const moe::v1::JobProgress& p) {
                           for (const auto& s : p.steps()) steps.push_back(s.step());
                         })
                  .ok());
  ASSERT_EQ(steps.size(), 400u) << "every step report kept";
  for (size_t i = 0; i < steps.size(); ++i) EXPECT_EQ(steps[i], static_cast<int64_t>(i) + 1);
  // And new jobs are taken again.
  EXPECT_TRUE(moed.client().Submit(Job(root / "other", 10)).ok());
}

}  // namespace
}  // namespace moe::server
