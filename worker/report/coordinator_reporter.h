// Reports a worker's progress to moed (WorkerService) when moed launched it: MOE_COORDINATOR
// (host:port), MOE_JOB_ID and MOE_ATTEMPT_ID in the environment. Every rank registers and then
// heartbeats from a background thread; rank 0 also reports step metrics and committed
// checkpoints. moed being unreachable never stops training: calls time out and are logged.
#ifndef MOE_WORKER_REPORT_COORDINATOR_REPORTER_H_
#define MOE_WORKER_REPORT_COORDINATOR_REPORTER_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "worker/report/progress.h"

namespace moe::worker {

class CoordinatorReporter : public ProgressSink {
 public:
  // nullptr when MOE_COORDINATOR is unset (not launched by moed); InvalidArgument naming the
  // variable when MOE_JOB_ID or MOE_ATTEMPT_ID is malformed. Heartbeats every MOE_HEARTBEAT_S
  // seconds (default 5).
  // A stop request in any of moed's replies sets *stop (which must outlive the reporter).
  static absl::StatusOr<std::unique_ptr<CoordinatorReporter>> FromEnvironment(
      int rank, std::atomic<bool>* stop);
  ~CoordinatorReporter() override;  // stops heartbeating

  void OnStep(const StepReport& report) override;
  void OnCheckpoint(const CheckpointReport& checkpoint) override;
  void OnCheckpointFailed(const CheckpointFailure& failure) override;
  void OnMessage(const std::string&) override {}
  // Heartbeats at once, marked busy (a start or an end of work without step reports both count
  // as progress), and marks the periodic ones busy while it lasts.
  void OnBusy(bool busy) override;

 private:
  struct Rpc;  // the gRPC stub and this worker's identity (gRPC stays out of this header)
  CoordinatorReporter(std::unique_ptr<Rpc> rpc, double heartbeat_seconds, std::atomic<bool>* stop);

  std::unique_ptr<Rpc> rpc_;
  std::atomic<bool>& stop_requested_;
  std::atomic<bool> busy_{false};
  absl::Notification done_;
  std::thread heartbeat_;
};

}  // namespace moe::worker

#endif  // MOE_WORKER_REPORT_COORDINATOR_REPORTER_H_
