// Progress as TensorBoard scalars under <output_dir>/tensorboard/ (rank 0): every measured
// metric of common/step_metrics.h under its tag (train/loss, train/learning_rate, ... as the
// original script wrote them; a MoE layer's under moe/layer_<l>/), and moe/layer_<l>/
// expert_<e>_share, train/epoch, train/global_step, train/epoch_loss (the mean of the epoch's
// reported losses, written when the epoch ends), checkpoint/save_seconds. A write failure is
// logged once; training goes on.
#ifndef MOE_WORKER_REPORT_TENSORBOARD_PROGRESS_H_
#define MOE_WORKER_REPORT_TENSORBOARD_PROGRESS_H_

#include <filesystem>
#include <memory>

#include "absl/status/statusor.h"
#include "worker/report/event_file_writer.h"
#include "worker/report/progress.h"

namespace moe::worker {

class TensorBoardProgress : public ProgressSink {
 public:
  static absl::StatusOr<std::unique_ptr<TensorBoardProgress>> Create(
      const std::filesystem::path& dir);

  void OnStep(const StepReport& report) override;
  void OnCheckpoint(const CheckpointReport& checkpoint) override;
  void OnMessage(const std::string&) override {}

 private:
  explicit TensorBoardProgress(std::unique_ptr<EventFileWriter> writer)
      : writer_(std::move(writer)) {}
  void Scalar(const std::string& tag, int64_t step, double value);

  std::unique_ptr<EventFileWriter> writer_;
  bool failed_ = false;
  double epoch_loss_sum_ = 0;  // reports of the epoch in progress
  int64_t epoch_reports_ = 0;
};

}  // namespace moe::worker

#endif  // MOE_WORKER_REPORT_TENSORBOARD_PROGRESS_H_
