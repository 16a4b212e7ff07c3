// What moed could not write into its catalogue (disk full, I/O errors), kept in memory in the
// order it came and written, in that order, once the catalogue can take it again. Step reports
// and events are bounded (the oldest dropped first, and counted); checkpoints are not, since
// each is a committed directory on disk and they are few. Not thread-safe: the coordinator
// holds it under its lock.
#ifndef MOE_SERVER_CATALOGUE_BACKLOG_H_
#define MOE_SERVER_CATALOGUE_BACKLOG_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "moe/v1/service.pb.h"
#include "server/catalogue.h"

namespace moe::server {

class CatalogueBacklog {
 public:
  explicit CatalogueBacklog(size_t max_reports = 100000) : max_reports_(max_reports) {}

  void KeepSteps(int64_t job_id, int64_t attempt_id, std::vector<moe::v1::StepMetrics> steps);
  void KeepCheckpoint(moe::v1::Checkpoint checkpoint);
  void KeepEvent(int64_t job_id, std::string text, double time);

  // Writes what is kept — checkpoints, then step reports, then events — each removed once
  // written; stops at the first failure and returns it (the rest stays, in order).
  absl::Status WriteTo(Catalogue& catalogue);

  // The newest kept checkpoint step of job `job_id`; 0 for none.
  int64_t NewestCheckpoint(int64_t job_id) const;
  size_t size() const { return steps_.size() + checkpoints_.size() + events_.size(); }
  size_t max_reports() const { return max_reports_; }
  // Step reports and events dropped for the bound since the last TakeDropped.
  size_t TakeDropped();

 private:
  struct Steps {
    int64_t job_id = 0, attempt_id = 0;
    std::vector<moe::v1::StepMetrics> steps;
  };
  struct Event {
    int64_t job_id = 0;
    std::string text;
    double time = 0;
  };
  template <typename T>
  void Bounded(std::deque<T>& queue);

  size_t max_reports_;
  std::deque<Steps> steps_;
  std::deque<moe::v1::Checkpoint> checkpoints_;
  std::deque<Event> events_;
  size_t dropped_ = 0;
};

}  // namespace moe::server

#endif  // MOE_SERVER_CATALOGUE_BACKLOG_H_
