// Progress as JSON lines appended to a file, one object per event, numbers at full precision:
//   {"event":"step","step":12,"total_steps":40,"epoch":0,"loss":2.31,"aux_loss":0.01,
//    "lr":1e-4,"grad_norm":0.8,"tokens_per_second":5100,"expert_share":[0.3,0.2,0.25,0.25],
//    "samples_per_second":80,"step_seconds":0.2,"layers":[{"layer":1,"expert_share":[...],
//    "dropped_fraction":0,"load_balance_loss":1.01,"z_loss":0.3,"router_entropy":1.2}],...}
//   {"event":"checkpoint","step":12,"dir":"runs/x/checkpoint-step-12","seconds":0.4,"bytes":9e6}
// Messages are not written. Each line is flushed as it is written.
#ifndef MOE_WORKER_TRAIN_JSON_LINES_PROGRESS_H_
#define MOE_WORKER_TRAIN_JSON_LINES_PROGRESS_H_

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "worker/train/progress.h"

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

#endif  // MOE_WORKER_TRAIN_JSON_LINES_PROGRESS_H_
