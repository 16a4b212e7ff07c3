// Progress as JSON lines appended to a file, one object per event, numbers at full precision.
// A step's line holds its position and every measured metric of common/step_metrics.h by key:
//   {"event":"step","step":12,"total_steps":40,"batch":48,"total_batches":160,"epoch":0,
//    "loss":2.31,"aux_loss":0.01,"learning_rate":1e-4,"grad_norm":0.8,...,
//    "expert_share":[0.3,0.2,0.25,0.25],"layers":[{"layer":1,"expert_share":[...],
//    "dropped_fraction":0,"load_balance_loss":1.01,"label_loss":0.6,...}]}
//   {"event":"checkpoint","step":12,"dir":"runs/x/checkpoint-step-12","seconds":0.4,"bytes":9e6}
//   {"event":"checkpoint_failed","step":12,"error":"...","disk_full":true,...}
// Messages are not written. Each line is flushed as it is written.
#ifndef MOE_WORKER_REPORT_JSON_LINES_PROGRESS_H_
#define MOE_WORKER_REPORT_JSON_LINES_PROGRESS_H_

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "worker/report/progress.h"

namespace moe::worker {

class JsonLinesProgress : public ProgressSink {
 public:
  // Opens `path` for appending (creating it). Internal naming the path when it cannot.
  static absl::StatusOr<std::unique_ptr<JsonLinesProgress>> Open(const std::filesystem::path& path);

  void OnStep(const StepReport& report) override;
  void OnCheckpoint(const CheckpointReport& checkpoint) override;
  void OnCheckpointFailed(const CheckpointFailure& failure) override;
  void OnMessage(const std::string&) override {}

 private:
  explicit JsonLinesProgress(std::ofstream out) : out_(std::move(out)) {}
  std::ofstream out_;
};

}  // namespace moe::worker

#endif  // MOE_WORKER_REPORT_JSON_LINES_PROGRESS_H_
