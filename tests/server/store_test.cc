// The catalogue: migrations, the job state machine, attempts, checkpoints (only committed,
// undeleted ones listed), step metrics, and readers from another connection while moed writes.
#include "server/store.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
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

TEST(Store, MigratesAFreshDatabaseAndRefusesANewerOne) {
  const std::string path = TempDb("migrate");
  {
    auto store = Store::Open(path);
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_EQ(*(*store)->SchemaVersion(), Store::kSchemaVersion);
    ASSERT_TRUE((*store)->CreateJob(Spec("a"), "/jobs/1", 1.0).ok());
  }
  {
    auto again = Store::Open(path);  // reopening keeps the data and the version
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ((*again)->ListJobs()->size(), 1u);
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto newer = Store::Open(path);
  EXPECT_EQ(newer.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(newer.status().message()), HasSubstr("schema version 99 is newer"));
}

TEST(Store, AVersion2CatalogueIsCopiedThenMigratedAndKeepsItsJobsAndAttempts) {
  const std::string path = TempDb("migrate_v2");
  int64_t attempt = 0, job = 0;
  {
    auto store = *Store::Open(path);
    moe::v1::JobSpec spec = Spec("a");
    spec.mutable_checkpoint()->set_output_dir("/runs/a/./");
    job = *store->CreateJob(spec, "/jobs/1", 1.0);
    attempt = *store->StartAttempt(job, 2, "/runs/a/checkpoint-step-5", 2.0);
  }
  // Back to schema 2 as a moed of that version left it: without what schemas 3 and 4 added.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "DROP INDEX jobs_by_output_dir; DROP INDEX jobs_by_state; "
                         "DROP INDEX events_by_job; DROP TABLE meta; "
                         "ALTER TABLE attempts DROP COLUMN launcher_handle; "
                         "ALTER TABLE attempts DROP COLUMN worker_secret; "
                         "ALTER TABLE jobs DROP COLUMN output_dir; "
                         "ALTER TABLE jobs DROP COLUMN waiting; "
                         "ALTER TABLE jobs DROP COLUMN wait_path; "
                         "ALTER TABLE jobs DROP COLUMN wait_bytes; "
                         "PRAGMA user_version = 2",
                         nullptr, nullptr, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);
  std::filesystem::remove(path + ".before-v4");

  auto store = Store::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(*(*store)->SchemaVersion(), Store::kSchemaVersion);
  const auto before = (*store)->GetAttempt(attempt);
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->resume_from(), "/runs/a/checkpoint-step-5");
  EXPECT_EQ(before->launcher_handle(), "") << "an old attempt ran locally";
  ASSERT_TRUE((*store)->SetAttemptHandle(attempt, "slurm:42").ok());
  EXPECT_EQ((*store)->GetAttempt(attempt)->launcher_handle(), "slurm:42");
  EXPECT_EQ((*store)->SetAttemptHandle(attempt + 1, "slurm:43").code(),
            absl::StatusCode::kNotFound);
  // The old jobs' checkpoint directories are known (normalised), and the catalogue has an id.
  const auto owners = (*store)->JobsWithOutputDir("/runs/a/");
  ASSERT_TRUE(owners.ok());
  ASSERT_EQ(owners->size(), 1u);
  EXPECT_EQ(owners->front().first, job);
  EXPECT_EQ((*store)->CatalogueId()->size(), 16u);
  // The copy made before migrating is the schema-2 catalogue, whole.
  auto copy = Store::Check(path + ".before-v4");
  EXPECT_TRUE(copy.ok()) << copy;
  sqlite3* old = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &old), SQLITE_OK);
  sqlite3_close(old);
  ASSERT_EQ(sqlite3_open((path + ".before-v4").c_str(), &old), SQLITE_OK);
  sqlite3_stmt* version = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(old, "PRAGMA user_version", -1, &version, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(version), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(version, 0), 2);
  sqlite3_finalize(version);
  sqlite3_close(old);
}

TEST(Store, ACreateThatCannotPrepareItsFilesKeepsNothing) {
  auto store = *Store::Open(":memory:");
  const auto failed =
      store->CreateJob(Spec("a"), 1.0, [](int64_t) -> absl::StatusOr<Store::PreparedJob> {
        return absl::FailedPreconditionError("cannot write job.yaml");
      });
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->ListJobs()->size(), 0u);
  // The id is not used up, and what prepare returns is what is stored.
  const auto made =
      store->CreateJob(Spec("a"), 2.0, [](int64_t id) -> absl::StatusOr<Store::PreparedJob> {
        moe::v1::JobSpec spec = Spec("a");
        spec.mutable_checkpoint()->set_output_dir(absl::StrCat("/runs/a/", id));
        return Store::PreparedJob{spec, absl::StrCat("/jobs/", id)};
      });
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_EQ(*made, 1);
  EXPECT_EQ(store->GetJob(1)->spec().checkpoint().output_dir(), "/runs/a/1");
  EXPECT_EQ(store->GetJob(1)->job_dir(), "/jobs/1");
  EXPECT_EQ(store->JobsWithOutputDir("/runs/a/1")->size(), 1u);
}

TEST(Store, SummariesPageNewestFirstWithoutSpecsAndDeletesAreWhole) {
  auto store = *Store::Open(":memory:");
  for (int i = 1; i <= 7; ++i) ASSERT_TRUE(store->CreateJob(Spec("a"), "/jobs", i).ok());
  ASSERT_TRUE(store->SetState(3, moe::v1::JOB_STATE_CANCELLED, 8).ok());
  ASSERT_TRUE(store->SetState(5, moe::v1::JOB_STATE_CANCELLED, 8).ok());
  Store::JobQuery query;
  query.limit = 3;
  auto page = store->ListJobSummaries(query);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 3u);
  EXPECT_EQ(page->at(0).id(), 7);
  EXPECT_EQ(page->at(2).id(), 5);
  EXPECT_FALSE(page->at(0).has_spec());
  query.after_id = 5;
  EXPECT_EQ(store->ListJobSummaries(query)->at(0).id(), 4);
  query = {};
  query.states = {moe::v1::JOB_STATE_CANCELLED};
  query.oldest_first = true;
  page = store->ListJobSummaries(query);
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ(page->at(0).id(), 3);
  EXPECT_EQ(page->at(1).id(), 5);

  const int64_t attempt = *store->StartAttempt(3, 1, "", 9);
  ASSERT_TRUE(store->AddEvent(3, "x", 9).ok());
  moe::v1::Checkpoint c;
  c.set_job_id(3);
  c.set_attempt_id(attempt);
  c.set_step(5);
  ASSERT_TRUE(store->AddCheckpoint(c).ok());
  ASSERT_TRUE(store->DeleteJob(3).ok());
  EXPECT_EQ(store->GetJob(3).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store->ListAttempts(3)->empty());
  EXPECT_TRUE(store->ListCheckpoints(3)->empty());
  EXPECT_TRUE(store->Events(3)->empty());
  EXPECT_EQ(store->DeleteJob(3).code(), absl::StatusCode::kNotFound);
}

TEST(Store, JobsRoundTripAndFollowTheStateMachine) {
  auto store = *Store::Open(":memory:");
  const int64_t id = *store->CreateJob(Spec("tiny"), "/jobs/1", 10.0);
  auto job = store->GetJob(id);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->name(), "tiny");
  EXPECT_EQ(job->state(), moe::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(job->world_size(), 2);
  EXPECT_EQ(job->max_restarts(), 3);
  EXPECT_DOUBLE_EQ(job->spec().training().learning_rate(), 1e-4);
  EXPECT_EQ(job->job_dir(), "/jobs/1");

  EXPECT_TRUE(store->SetState(id, moe::v1::JOB_STATE_RUNNING, 11).ok());
  EXPECT_TRUE(store->SetState(id, moe::v1::JOB_STATE_COMPLETED, 12).ok());
  const absl::Status again = store->SetState(id, moe::v1::JOB_STATE_RUNNING, 13);
  EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(again.message()),
              HasSubstr("has already completed: it cannot be started"));
  EXPECT_EQ(store->GetJob(id)->state(), moe::v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(store->GetJob(99).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store->SetState(id, moe::v1::JOB_STATE_FAILED, 1, "x").code() ==
              absl::StatusCode::kFailedPrecondition);

  // Every allowed edge, and a sample of forbidden ones.
  EXPECT_TRUE(AllowedTransition(moe::v1::JOB_STATE_RUNNING, moe::v1::JOB_STATE_QUEUED));
  EXPECT_TRUE(AllowedTransition(moe::v1::JOB_STATE_INTERRUPTED, moe::v1::JOB_STATE_QUEUED));
  EXPECT_TRUE(AllowedTransition(moe::v1::JOB_STATE_FAILED, moe::v1::JOB_STATE_QUEUED));
  EXPECT_FALSE(AllowedTransition(moe::v1::JOB_STATE_QUEUED, moe::v1::JOB_STATE_COMPLETED));
  EXPECT_FALSE(AllowedTransition(moe::v1::JOB_STATE_COMPLETED, moe::v1::JOB_STATE_QUEUED));
  EXPECT_FALSE(AllowedTransition(moe::v1::JOB_STATE_CANCELLED, moe::v1::JOB_STATE_RUNNING));

  const int64_t other = *store->CreateJob(Spec("second"), "/jobs/2", 20.0);
  const auto counts = store->CountJobsByState();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(*counts, (std::map<JobState, int>{{moe::v1::JOB_STATE_QUEUED, 1},
                                              {moe::v1::JOB_STATE_COMPLETED, 1}}));
  const auto queued = store->JobsIn(moe::v1::JOB_STATE_QUEUED);
  ASSERT_EQ(queued->size(), 1u);
  EXPECT_EQ(queued->at(0).id(), other);
}

TEST(Store, AttemptsEndOnce) {
  auto store = *Store::Open(":memory:");
  const int64_t job = *store->CreateJob(Spec("a"), "/j", 1);
  const int64_t attempt = *store->StartAttempt(job, 2, "", 2);
  EXPECT_TRUE(store->EndAttempt(attempt, 0, 9, moe::v1::ATTEMPT_CAUSE_SIGNALED, 3).ok());
  EXPECT_EQ(store->EndAttempt(attempt, 1, 0, moe::v1::ATTEMPT_CAUSE_CRASHED, 4).code(),
            absl::StatusCode::kFailedPrecondition);
  const auto a = store->GetAttempt(attempt);
  EXPECT_EQ(a->signal(), 9);
  EXPECT_EQ(a->cause(), moe::v1::ATTEMPT_CAUSE_SIGNALED);
  EXPECT_DOUBLE_EQ(a->ended_unix_s(), 3);
  store->StartAttempt(job, 1, "/ckpt", 5).IgnoreError();
  const auto all = store->ListAttempts(job);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ(all->at(1).resume_from(), "/ckpt");
  EXPECT_EQ(all->at(1).world_size(), 1);
}

TEST(Store, ListsCommittedCheckpointsNewestFirstWithoutDeletedOnes) {
  auto store = *Store::Open(":memory:");
  const int64_t job = *store->CreateJob(Spec("a"), "/j", 1);
  for (int step : {2, 6, 4}) {
    moe::v1::Checkpoint c;
    c.set_job_id(job);
    c.set_attempt_id(1);
    c.set_step(step);
    c.set_path("/out/checkpoint-step-" + std::to_string(step));
    c.set_bytes(100 * step);
    c.set_world_size(2);
    ASSERT_TRUE(store->AddCheckpoint(c).ok());
  }
  ASSERT_TRUE(store->MarkCheckpointDeleted(job, 2).ok());
  const auto listed = store->ListCheckpoints(job);
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ(listed->at(0).step(), 6);
  EXPECT_EQ(listed->at(1).step(), 4);
  EXPECT_EQ(listed->at(0).bytes(), 600u);
  EXPECT_TRUE(store->ListCheckpoints(job + 1)->empty());
}

TEST(Store, ADamagedCheckpointIsSetAsideUntilItsStepIsCommittedAgain) {
  auto store = *Store::Open(":memory:");
  const int64_t job = *store->CreateJob(Spec("a"), "/j", 1);
  moe::v1::Checkpoint c;
  c.set_job_id(job);
  for (int step : {5, 10}) {
    c.set_step(step);
    c.set_path("/out/checkpoint-step-" + std::to_string(step));
    ASSERT_TRUE(store->AddCheckpoint(c).ok());
  }
  ASSERT_TRUE(store->MarkCheckpointDamaged(job, 10, "failed verification").ok());
  auto listed = store->ListCheckpoints(job);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->at(0).step(), 5);         // the newest usable one
  ASSERT_TRUE(store->AddCheckpoint(c).ok());  // step 10 written and committed anew
  listed = store->ListCheckpoints(job);
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ(listed->at(0).step(), 10);
}

TEST(Store, StepsOfARepeatedStepComeFromTheNewestAttempt) {
  auto store = *Store::Open(":memory:");
  const int64_t job = *store->CreateJob(Spec("a"), "/j", 1);
  auto step = [](int64_t n, double loss) {
    moe::v1::StepMetrics m;
    m.set_step(n);
    m.set_total_steps(10);
    m.set_loss(loss);
    m.add_expert_share(0.25);
    m.add_expert_share(0.75);
    return m;
  };
  ASSERT_TRUE(store->AddSteps(job, 1, {step(1, 3.0), step(2, 2.5), step(3, 2.4)}).ok());
  ASSERT_TRUE(store->AddSteps(job, 2, {step(3, 2.2), step(4, 2.0)}).ok());  // after a restart
  const auto steps = store->StepsAfter(job, 1);
  ASSERT_EQ(steps->size(), 3u);
  EXPECT_EQ(steps->at(0).step(), 2);
  EXPECT_DOUBLE_EQ(steps->at(1).loss(), 2.2);
  EXPECT_EQ(steps->at(2).expert_share_size(), 2);
  EXPECT_DOUBLE_EQ(steps->at(2).expert_share(1), 0.75);
  EXPECT_EQ(store->GetJob(job)->step(), 4);
  EXPECT_EQ(store->GetJob(job)->total_steps(), 10);
}

TEST(Store, ReadersInAnotherConnectionSeeOnlyCommittedWritesAndNeverBlockThem) {
  const std::string path = TempDb("concurrent");
  auto writer = *Store::Open(path);
  const int64_t job = *writer->CreateJob(Spec("a"), "/j", 1);
  std::atomic<bool> done{false};
  std::atomic<int> reads{0}, torn{0};
  std::thread reader([&] {
    auto other = *Store::Open(path);
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
