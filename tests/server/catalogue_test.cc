// The catalogue: migrations, the job state machine, attempts, checkpoints (only committed,
// undeleted ones listed), step metrics, and readers from another connection while moed writes.
#include "server/catalogue.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/step_metrics.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace moe::server {
namespace {

using moe::v1::JobState;
using ::testing::HasSubstr;

std::string TempDb(const std::string& name) {
  const auto path = std::filesystem::path(::testing::TempDir()) /
                    ("moe_store_" + std::to_string(getpid()) + "_" + name + ".db");
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
  return path.string();
}

moe::v1::JobSpec Spec(const std::string& name) {
  moe::v1::JobSpec spec;
  spec.set_name(name);
  spec.mutable_resources()->set_world_size(2);
  spec.mutable_resources()->set_max_restarts(3);
  spec.mutable_training()->set_learning_rate(1e-4);
  return spec;
}

TEST(Catalogue, MigratesAFreshDatabaseAndRefusesANewerOne) {
  const std::string path = TempDb("migrate");
  {
    auto catalogue = Catalogue::Open(path);
    ASSERT_TRUE(catalogue.ok()) << catalogue.status();
    EXPECT_EQ(*(*catalogue)->SchemaVersion(), Catalogue::kSchemaVersion);
    ASSERT_TRUE((*catalogue)->CreateJob(Spec("a"), "/jobs/1", 1.0).ok());
  }
  {
    auto again = Catalogue::Open(path);  // reopening keeps the data and the version
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ((*again)->ListJobs()->size(), 1u);
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto newer = Catalogue::Open(path);
  EXPECT_EQ(newer.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(newer.status().message()), HasSubstr("schema version 99 is newer"));
}

TEST(Catalogue, AVersion2CatalogueIsCopiedThenMigratedAndKeepsItsJobsAndAttempts) {
  const std::string path = TempDb("migrate_v2");
  int64_t attempt = 0, job = 0;
  {
    auto catalogue = *Catalogue::Open(path);
    moe::v1::JobSpec spec = Spec("a");
    spec.mutable_checkpoint()->set_output_dir("/runs/a/./");
    job = *catalogue->CreateJob(spec, "/jobs/1", 1.0);
    attempt = *catalogue->StartAttempt(job, 2, "/runs/a/checkpoint-step-5", 2.0);
  }
  // Back to schema 2 as a moed of that version left it: without what schemas 3 to 6 added, and
  // with a step reported in its typed columns.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db,
                   "DROP INDEX jobs_by_output_dir; DROP INDEX jobs_by_state; "
                   "DROP INDEX events_by_job; DROP TABLE meta; "
                   "ALTER TABLE attempts DROP COLUMN launcher_handle; "
                   "ALTER TABLE attempts DROP COLUMN worker_secret; "
                   "ALTER TABLE jobs DROP COLUMN output_dir; "
                   "ALTER TABLE jobs DROP COLUMN waiting; "
                   "ALTER TABLE jobs DROP COLUMN wait_path; "
                   "ALTER TABLE jobs DROP COLUMN wait_bytes; "
                   "ALTER TABLE steps DROP COLUMN metrics; "
                   "ALTER TABLE checkpoints DROP COLUMN save_seconds; "
                   "ALTER TABLE checkpoints DROP COLUMN stall_seconds; "
                   "ALTER TABLE checkpoints DROP COLUMN async; "
                   "ALTER TABLE checkpoints DROP COLUMN interval_steps; "
                   "ALTER TABLE checkpoints DROP COLUMN interval_why; "
                   "ALTER TABLE steps ADD COLUMN loss REAL NOT NULL DEFAULT 0; "
                   "ALTER TABLE steps ADD COLUMN aux_loss REAL NOT NULL DEFAULT 0; "
                   "ALTER TABLE steps ADD COLUMN learning_rate REAL NOT NULL DEFAULT 0; "
                   "ALTER TABLE steps ADD COLUMN grad_norm REAL NOT NULL DEFAULT 0; "
                   "ALTER TABLE steps ADD COLUMN tokens_per_second REAL NOT NULL DEFAULT 0; "
                   "INSERT INTO steps (job_id, attempt_id, step, total_steps, epoch, loss, "
                   "aux_loss, learning_rate, grad_norm, tokens_per_second, expert_share, "
                   "time) VALUES (1, 1, 3, 10, 0, 2.5, 0.01, 1e-4, 0.8, 900, '[0.5,0.5]', 3); "
                   "INSERT INTO checkpoints (job_id, step, attempt_id, epoch, data_position, "
                   "world_size, path, bytes, manifest_sha256, committed) VALUES (1, 5, 1, 0, 10, "
                   "2, '/runs/a/checkpoint-step-5', 100, 'abc', 4); "
                   "PRAGMA user_version = 2",
                   nullptr, nullptr, nullptr),
      SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);
  const std::string backup = absl::StrCat(path, ".before-v", Catalogue::kSchemaVersion);
  std::filesystem::remove(backup);

  auto catalogue = Catalogue::Open(path);
  ASSERT_TRUE(catalogue.ok()) << catalogue.status();
  EXPECT_EQ(*(*catalogue)->SchemaVersion(), Catalogue::kSchemaVersion);
  const auto before = (*catalogue)->GetAttempt(attempt);
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->resume_from(), "/runs/a/checkpoint-step-5");
  EXPECT_EQ(before->launcher_handle(), "") << "an old attempt ran locally";
  ASSERT_TRUE((*catalogue)->SetAttemptHandle(attempt, "slurm:42").ok());
  EXPECT_EQ((*catalogue)->GetAttempt(attempt)->launcher_handle(), "slurm:42");
  EXPECT_EQ((*catalogue)->SetAttemptHandle(attempt + 1, "slurm:43").code(),
            absl::StatusCode::kNotFound);
  // The old jobs' checkpoint directories are known (normalised), and the catalogue has an id.
  const auto owners = (*catalogue)->JobsWithOutputDir("/runs/a/");
  ASSERT_TRUE(owners.ok());
  ASSERT_EQ(owners->size(), 1u);
  EXPECT_EQ(owners->front().first, job);
  EXPECT_EQ((*catalogue)->CatalogueId()->size(), 16u);
  // The old step's typed columns are its metrics by key now.
  const auto steps = (*catalogue)->StepsAfter(job, 0);
  ASSERT_TRUE(steps.ok()) << steps.status();
  ASSERT_EQ(steps->size(), 1u);
  EXPECT_EQ(steps->at(0).step(), 3);
  EXPECT_EQ(common::FindByKey(steps->at(0).values(), common::kLoss), 2.5);
  EXPECT_EQ(common::FindByKey(steps->at(0).values(), common::kLearningRate), 1e-4);
  EXPECT_EQ(common::FindByKey(steps->at(0).values(), common::kTokensPerSecond), 900);
  EXPECT_EQ(steps->at(0).values_size(), 5);
  EXPECT_EQ(steps->at(0).expert_share_size(), 2);
  // An old checkpoint has no record of how it was saved; a new one keeps it.
  auto checkpoints = (*catalogue)->ListCheckpoints(job);
  ASSERT_TRUE(checkpoints.ok()) << checkpoints.status();
  ASSERT_EQ(checkpoints->size(), 1u);
  EXPECT_EQ(checkpoints->at(0).path(), "/runs/a/checkpoint-step-5");
  EXPECT_EQ(checkpoints->at(0).save_seconds(), 0);
  EXPECT_EQ(checkpoints->at(0).interval_why(), "");
  moe::v1::Checkpoint saved = checkpoints->at(0);
  saved.set_step(10);
  saved.set_save_seconds(1.5);
  saved.set_stall_seconds(0.01);
  saved.set_async(true);
  saved.set_interval_steps(37);
  saved.set_interval_why("save_steps: auto; Young/Daly");
  ASSERT_TRUE((*catalogue)->AddCheckpoint(saved).ok());
  checkpoints = (*catalogue)->ListCheckpoints(job);
  ASSERT_EQ(checkpoints->size(), 2u);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(checkpoints->at(0), saved))
      << checkpoints->at(0).DebugString();
  // The copy made before migrating is the schema-2 catalogue, whole.
  auto copy = Catalogue::Check(backup);
  EXPECT_TRUE(copy.ok()) << copy;
  sqlite3* old = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &old), SQLITE_OK);
  sqlite3_close(old);
  ASSERT_EQ(sqlite3_open(backup.c_str(), &old), SQLITE_OK);
  sqlite3_stmt* version = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(old, "PRAGMA user_version", -1, &version, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(version), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(version, 0), 2);
  sqlite3_finalize(version);
  sqlite3_close(old);
}

TEST(Catalogue, ACreateThatCannotPrepareItsFilesKeepsNothing) {
  auto catalogue = *Catalogue::Open(":memory:");
  const auto failed =
      catalogue->CreateJob(Spec("a"), 1.0, [](int64_t) -> absl::StatusOr<Catalogue::PreparedJob> {
        return absl::FailedPreconditionError("cannot write job.yaml");
      });
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(catalogue->ListJobs()->size(), 0u);
  // The id is not used up, and what prepare returns is what is stored.
  const auto made = catalogue->CreateJob(
      Spec("a"), 2.0, [](int64_t id) -> absl::StatusOr<Catalogue::PreparedJob> {
        moe::v1::JobSpec spec = Spec("a");
        spec.mutable_checkpoint()->set_output_dir(absl::StrCat("/runs/a/", id));
        return Catalogue::PreparedJob{spec, absl::StrCat("/jobs/", id)};
      });
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_EQ(*made, 1);
  EXPECT_EQ(catalogue->GetJob(1)->spec().checkpoint().output_dir(), "/runs/a/1");
  EXPECT_EQ(catalogue->GetJob(1)->job_dir(), "/jobs/1");
  EXPECT_EQ(catalogue->JobsWithOutputDir("/runs/a/1")->size(), 1u);
}

TEST(Catalogue, SummariesPageNewestFirstWithoutSpecsAndDeletesAreWhole) {
  auto catalogue = *Catalogue::Open(":memory:");
  for (int i = 1; i <= 7; ++i) ASSERT_TRUE(catalogue->CreateJob(Spec("a"), "/jobs", i).ok());
  ASSERT_TRUE(catalogue->SetState(3, moe::v1::JOB_STATE_CANCELLED, 8).ok());
  ASSERT_TRUE(catalogue->SetState(5, moe::v1::JOB_STATE_CANCELLED, 8).ok());
  Catalogue::JobQuery query;
  query.limit = 3;
  auto page = catalogue->ListJobSummaries(query);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 3u);
  EXPECT_EQ(page->at(0).id(), 7);
  EXPECT_EQ(page->at(2).id(), 5);
  EXPECT_FALSE(page->at(0).has_spec());
  query.after_id = 5;
  EXPECT_EQ(catalogue->ListJobSummaries(query)->at(0).id(), 4);
  query = {};
  query.states = {moe::v1::JOB_STATE_CANCELLED};
  query.oldest_first = true;
  page = catalogue->ListJobSummaries(query);
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ(page->at(0).id(), 3);
  EXPECT_EQ(page->at(1).id(), 5);

  const int64_t attempt = *catalogue->StartAttempt(3, 1, "", 9);
  ASSERT_TRUE(catalogue->AddEvent(3, "x", 9).ok());
  moe::v1::Checkpoint c;
  c.set_job_id(3);
  c.set_attempt_id(attempt);
  c.set_step(5);
  ASSERT_TRUE(catalogue->AddCheckpoint(c).ok());
  ASSERT_TRUE(catalogue->DeleteJob(3).ok());
  EXPECT_EQ(catalogue->GetJob(3).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(catalogue->ListAttempts(3)->empty());
  EXPECT_TRUE(catalogue->ListCheckpoints(3)->empty());
  EXPECT_TRUE(catalogue->Events(3)->empty());
  EXPECT_EQ(catalogue->DeleteJob(3).code(), absl::StatusCode::kNotFound);
}

TEST(Catalogue, JobsRoundTripAndFollowTheStateMachine) {
  auto catalogue = *Catalogue::Open(":memory:");
  const int64_t id = *catalogue->CreateJob(Spec("tiny"), "/jobs/1", 10.0);
  auto job = catalogue->GetJob(id);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->name(), "tiny");
  EXPECT_EQ(job->state(), moe::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(job->world_size(), 2);
  EXPECT_EQ(job->max_restarts(), 3);
  EXPECT_DOUBLE_EQ(job->spec().training().learning_rate(), 1e-4);
  EXPECT_EQ(job->job_dir(), "/jobs/1");

  EXPECT_TRUE(catalogue->SetState(id, moe::v1::JOB_STATE_RUNNING, 11).ok());
  EXPECT_TRUE(catalogue->SetState(id, moe::v1::JOB_STATE_COMPLETED, 12).ok());
  const absl::Status again = catalogue->SetState(id, moe::v1::JOB_STATE_RUNNING, 13);
  EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(again.message()),
              HasSubstr("has already completed: it cannot be started"));
  EXPECT_EQ(catalogue->GetJob(id)->state(), moe::v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(catalogue->GetJob(99).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(catalogue->SetState(id, moe::v1::JOB_STATE_FAILED, 1, "x").code() ==
              absl::StatusCode::kFailedPrecondition);

  // Every allowed edge, and a sample of forbidden ones.
  EXPECT_TRUE(AllowedTransition(moe::v1::JOB_STATE_RUNNING, moe::v1::JOB_STATE_QUEUED));
  EXPECT_TRUE(AllowedTransition(moe::v1::JOB_STATE_INTERRUPTED, moe::v1::JOB_STATE_QUEUED));
  EXPECT_TRUE(AllowedTransition(moe::v1::JOB_STATE_FAILED, moe::v1::JOB_STATE_QUEUED));
  EXPECT_FALSE(AllowedTransition(moe::v1::JOB_STATE_QUEUED, moe::v1::JOB_STATE_COMPLETED));
  EXPECT_FALSE(AllowedTransition(moe::v1::JOB_STATE_COMPLETED, moe::v1::JOB_STATE_QUEUED));
  EXPECT_FALSE(AllowedTransition(moe::v1::JOB_STATE_CANCELLED, moe::v1::JOB_STATE_RUNNING));

  const int64_t other = *catalogue->CreateJob(Spec("second"), "/jobs/2", 20.0);
  const auto counts = catalogue->CountJobsByState();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(*counts, (std::map<JobState, int>{{moe::v1::JOB_STATE_QUEUED, 1},
                                              {moe::v1::JOB_STATE_COMPLETED, 1}}));
  const auto queued = catalogue->JobsIn(moe::v1::JOB_STATE_QUEUED);
  ASSERT_EQ(queued->size(), 1u);
  EXPECT_EQ(queued->at(0).id(), other);
}

TEST(Catalogue, AttemptsEndOnce) {
  auto catalogue = *Catalogue::Open(":memory:");
  const int64_t job = *catalogue->CreateJob(Spec("a"), "/j", 1);
  const int64_t attempt = *catalogue->StartAttempt(job, 2, "", 2);
  EXPECT_TRUE(catalogue->EndAttempt(attempt, 0, 9, moe::v1::ATTEMPT_CAUSE_SIGNALED, 3).ok());
  EXPECT_EQ(catalogue->EndAttempt(attempt, 1, 0, moe::v1::ATTEMPT_CAUSE_CRASHED, 4).code(),
            absl::StatusCode::kFailedPrecondition);
  const auto a = catalogue->GetAttempt(attempt);
  EXPECT_EQ(a->signal(), 9);
  EXPECT_EQ(a->cause(), moe::v1::ATTEMPT_CAUSE_SIGNALED);
  EXPECT_DOUBLE_EQ(a->ended_unix_s(), 3);
  catalogue->StartAttempt(job, 1, "/ckpt", 5).IgnoreError();
  const auto all = catalogue->ListAttempts(job);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ(all->at(1).resume_from(), "/ckpt");
  EXPECT_EQ(all->at(1).world_size(), 1);
}

TEST(Catalogue, ListsCommittedCheckpointsNewestFirstWithoutDeletedOnes) {
  auto catalogue = *Catalogue::Open(":memory:");
  const int64_t job = *catalogue->CreateJob(Spec("a"), "/j", 1);
  for (int step : {2, 6, 4}) {
    moe::v1::Checkpoint c;
    c.set_job_id(job);
    c.set_attempt_id(1);
    c.set_step(step);
    c.set_path("/out/checkpoint-step-" + std::to_string(step));
    c.set_bytes(100 * step);
    c.set_world_size(2);
    ASSERT_TRUE(catalogue->AddCheckpoint(c).ok());
  }
  ASSERT_TRUE(catalogue->MarkCheckpointDeleted(job, 2).ok());
  const auto listed = catalogue->ListCheckpoints(job);
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ(listed->at(0).step(), 6);
  EXPECT_EQ(listed->at(1).step(), 4);
  EXPECT_EQ(listed->at(0).bytes(), 600u);
  EXPECT_TRUE(catalogue->ListCheckpoints(job + 1)->empty());
}

TEST(Catalogue, ADamagedCheckpointIsSetAsideUntilItsStepIsCommittedAgain) {
  auto catalogue = *Catalogue::Open(":memory:");
  const int64_t job = *catalogue->CreateJob(Spec("a"), "/j", 1);
  moe::v1::Checkpoint c;
  c.set_job_id(job);
  for (int step : {5, 10}) {
    c.set_step(step);
    c.set_path("/out/checkpoint-step-" + std::to_string(step));
    ASSERT_TRUE(catalogue->AddCheckpoint(c).ok());
  }
  ASSERT_TRUE(catalogue->MarkCheckpointDamaged(job, 10, "failed verification").ok());
  auto listed = catalogue->ListCheckpoints(job);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->at(0).step(), 5);             // the newest usable one
  ASSERT_TRUE(catalogue->AddCheckpoint(c).ok());  // step 10 written and committed anew
  listed = catalogue->ListCheckpoints(job);
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ(listed->at(0).step(), 10);
}

TEST(Catalogue, StepsOfARepeatedStepComeFromTheNewestAttempt) {
  auto catalogue = *Catalogue::Open(":memory:");
  const int64_t job = *catalogue->CreateJob(Spec("a"), "/j", 1);
  auto step = [](int64_t n, double loss) {
    moe::v1::StepMetrics m;
    m.set_step(n);
    m.set_total_steps(10);
    (*m.mutable_values())["loss"] = loss;
    (*m.mutable_values())["a_metric_of_a_newer_worker"] = 1;  // kept: the catalogue names none
    m.add_expert_share(0.25);
    m.add_expert_share(0.75);
    return m;
  };
  ASSERT_TRUE(catalogue->AddSteps(job, 1, {step(1, 3.0), step(2, 2.5), step(3, 2.4)}).ok());
  ASSERT_TRUE(catalogue->AddSteps(job, 2, {step(3, 2.2), step(4, 2.0)}).ok());  // after a restart
  const auto steps = catalogue->StepsAfter(job, 1);
  ASSERT_EQ(steps->size(), 3u);
  EXPECT_EQ(steps->at(0).step(), 2);
  EXPECT_EQ(common::FindByKey(steps->at(1).values(), common::kLoss), 2.2);
  EXPECT_EQ(steps->at(1).values().at("a_metric_of_a_newer_worker"), 1);
  EXPECT_EQ(steps->at(2).expert_share_size(), 2);
  EXPECT_DOUBLE_EQ(steps->at(2).expert_share(1), 0.75);
  EXPECT_EQ(catalogue->GetJob(job)->step(), 4);
  EXPECT_EQ(catalogue->GetJob(job)->total_steps(), 10);
}

TEST(Catalogue, ReadersInAnotherConnectionSeeOnlyCommittedWritesAndNeverBlockThem) {
  const std::string path = TempDb("concurrent");
  auto writer = *Catalogue::Open(path);
  const int64_t job = *writer->CreateJob(Spec("a"), "/j", 1);
  std::atomic<bool> done{false};
  std::atomic<int> reads{0}, torn{0};
  std::thread reader([&] {
    auto other = *Catalogue::Open(path);
    while (!done) {
      const auto steps = other->StepsAfter(job, 0);
      ASSERT_TRUE(steps.ok()) << steps.status();
      // Batches of 10 are written in one transaction: a reader sees whole batches only.
      if (steps->size() % 10 != 0) ++torn;
      ++reads;
    }
  });
  for (int batch = 0; batch < 50; ++batch) {
    std::vector<moe::v1::StepMetrics> steps(10);
    for (int i = 0; i < 10; ++i) steps[i].set_step(batch * 10 + i + 1);
    ASSERT_TRUE(writer->AddSteps(job, 1, steps).ok());
  }
  done = true;
  reader.join();
  EXPECT_GT(reads, 0);
  EXPECT_EQ(torn, 0);
  EXPECT_EQ(writer->StepsAfter(job, 0)->size(), 500u);
}

}  // namespace
}  // namespace moe::server
