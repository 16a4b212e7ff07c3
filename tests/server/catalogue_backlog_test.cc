// CatalogueBacklog: kept reports are written in the order they came, step reports and events
// are bounded with the oldest dropped first and counted; checkpoints are never dropped. (The
// failing catalogue itself is exercised end to end in hostile_test, on a full file system.)
#include "server/catalogue_backlog.h"

#include "gtest/gtest.h"

namespace moe::server {
namespace {

moe::v1::StepMetrics Step(int64_t n) {
  moe::v1::StepMetrics m;
  m.set_step(n);
  m.set_total_steps(100);
  (*m.mutable_values())["loss"] = 1.0 / n;
  return m;
}

moe::v1::Checkpoint Checkpoint(int64_t job, int64_t step) {
  moe::v1::Checkpoint c;
  c.set_job_id(job);
  c.set_step(step);
  c.set_path("/runs/a/checkpoint-step-" + std::to_string(step));
  return c;
}

TEST(CatalogueBacklog, WritesInOrderKeepsTheNewestReportsAndEveryCheckpoint) {
  auto catalogue = *Catalogue::Open(":memory:");
  moe::v1::JobSpec spec;
  spec.set_name("a");
  spec.mutable_resources()->set_world_size(1);
  const int64_t job = *catalogue->CreateJob(spec, "/jobs/1", 1.0);
  const int64_t attempt = *catalogue->StartAttempt(job, 1, "", 1.0);

  CatalogueBacklog backlog(/*max_reports=*/2);
  for (int64_t n = 1; n <= 3; ++n) backlog.KeepSteps(job, attempt, {Step(n)});
  for (const char* text : {"first", "second", "third"}) backlog.KeepEvent(job, text, 2.0);
  for (int64_t step : {5, 10, 15}) backlog.KeepCheckpoint(Checkpoint(job, step));
  EXPECT_EQ(backlog.size(), 2u + 2u + 3u);  // the oldest report and event dropped
  EXPECT_EQ(backlog.NewestCheckpoint(job), 15);
  EXPECT_EQ(backlog.NewestCheckpoint(job + 1), 0);

  ASSERT_TRUE(backlog.WriteTo(*catalogue).ok());
  EXPECT_EQ(backlog.size(), 0u);
  EXPECT_EQ(backlog.TakeDropped(), 2u);
  EXPECT_EQ(backlog.TakeDropped(), 0u) << "counted once";
  const auto steps = catalogue->StepsAfter(job, 0);
  ASSERT_EQ(steps->size(), 2u);
  EXPECT_EQ(steps->at(0).step(), 2);
  EXPECT_EQ(steps->at(1).step(), 3);
  EXPECT_EQ(catalogue->GetJob(job)->step(), 3) << "the newest report sets the job's progress";
  EXPECT_EQ(*catalogue->Events(job), (std::vector<std::string>{"second", "third"}));
  const auto checkpoints = catalogue->ListCheckpoints(job);
  ASSERT_EQ(checkpoints->size(), 3u);
  EXPECT_EQ(checkpoints->front().step(), 15);  // newest first
}

}  // namespace
}  // namespace moe::server
