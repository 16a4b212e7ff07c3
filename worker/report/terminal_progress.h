// Progress as log lines (spdlog), one per report:
//   step 120/10991 | batch 480/43963 | loss 2.1234 | lr 1.98e-05 | 41k tok/s |
//   experts 27/24/25/24% | grad 0.83
// The line is for people: a short, fixed choice of metrics. The JSON-lines and TensorBoard
// sinks write all of them.
#ifndef MOE_WORKER_REPORT_TERMINAL_PROGRESS_H_
#define MOE_WORKER_REPORT_TERMINAL_PROGRESS_H_

#include <string>

#include "worker/report/progress.h"

namespace moe::worker {

class TerminalProgress : public ProgressSink {
 public:
  void OnStep(const StepReport& report) override;
  void OnCheckpoint(const CheckpointReport& checkpoint) override;
  void OnCheckpointFailed(const CheckpointFailure& failure) override;
  void OnMessage(const std::string& message) override;
};

}  // namespace moe::worker

#endif  // MOE_WORKER_REPORT_TERMINAL_PROGRESS_H_
