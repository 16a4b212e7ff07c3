// The grace period of a requested stop. Once `requested` becomes true (SIGTERM, moed's stop
// request), the process has `grace_s` seconds to reach the agreed stop step and commit its
// checkpoint; when they pass first, `on_expired` runs (by default: log, then _exit with
// kExitStopTimedOut). The commit is one rename, so a process that exits at any moment leaves
// either the new checkpoint or none of it: the previous checkpoint stands.
//
// A background thread watches the flag (every 20 ms); destroying the deadline stops it.
#ifndef MOE_WORKER_TRAIN_STOP_DEADLINE_H_
#define MOE_WORKER_TRAIN_STOP_DEADLINE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"

namespace moe::worker {

class StopDeadline {
 public:
  // `requested` must outlive this. grace_s <= 0: no deadline (nothing is started).
  StopDeadline(const std::atomic<bool>& requested, double grace_s,
               std::function<void()> on_expired = nullptr);
  ~StopDeadline();

  // Seconds left before the deadline: the whole grace period until a stop is requested
  // (seen within 20 ms), infinity when there is no grace period.
  double SecondsLeft() const;

  StopDeadline(const StopDeadline&) = delete;
  StopDeadline& operator=(const StopDeadline&) = delete;

 private:
  void Watch();

  const std::atomic<bool>& requested_;
  const double grace_s_;
  const std::function<void()> on_expired_;
  std::atomic<double> requested_at_{-1};  // steady-clock seconds; < 0 until requested
  absl::Notification done_;
  std::thread watcher_;
};

// The grace period moed gives its workers (MOE_STOP_GRACE_S, seconds), else 0 (none).
// InvalidArgument naming the variable when it is not a number >= 0.
absl::StatusOr<double> StopGraceFromEnvironment();

}  // namespace moe::worker

#endif  // MOE_WORKER_TRAIN_STOP_DEADLINE_H_
