#include "server/catalogue_backlog.h"

#include <algorithm>
#include <utility>

#include "common/status_macros.h"

namespace moe::server {

template <typename T>
void CatalogueBacklog::Bounded(std::deque<T>& queue) {
  while (queue.size() > max_reports_) {
    queue.pop_front();
    ++dropped_;
  }
}

void CatalogueBacklog::KeepSteps(int64_t job_id, int64_t attempt_id,
                                 std::vector<moe::v1::StepMetrics> steps) {
  steps_.push_back({job_id, attempt_id, std::move(steps)});
  Bounded(steps_);
}

void CatalogueBacklog::KeepCheckpoint(moe::v1::Checkpoint checkpoint) {
  checkpoints_.push_back(std::move(checkpoint));
}

void CatalogueBacklog::KeepEvent(int64_t job_id, std::string text, double time) {
  events_.push_back({job_id, std::move(text), time});
  Bounded(events_);
}

absl::Status CatalogueBacklog::WriteTo(Catalogue& catalogue) {
  while (!checkpoints_.empty()) {
    RETURN_IF_ERROR(catalogue.AddCheckpoint(checkpoints_.front()));
    checkpoints_.pop_front();
  }
  while (!steps_.empty()) {
    const Steps& s = steps_.front();
    RETURN_IF_ERROR(catalogue.AddSteps(s.job_id, s.attempt_id, s.steps));
    steps_.pop_front();
  }
  while (!events_.empty()) {
    const Event& e = events_.front();
    RETURN_IF_ERROR(catalogue.AddEvent(e.job_id, e.text, e.time));
    events_.pop_front();
  }
  return absl::OkStatus();
}

int64_t CatalogueBacklog::NewestCheckpoint(int64_t job_id) const {
  int64_t newest = 0;
  for (const moe::v1::Checkpoint& kept : checkpoints_) {
    if (kept.job_id() == job_id) newest = std::max(newest, kept.step());
  }
  return newest;
}

size_t CatalogueBacklog::TakeDropped() { return std::exchange(dropped_, 0); }

}  // namespace moe::server
