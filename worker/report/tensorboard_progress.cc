#include "worker/report/tensorboard_progress.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace moe::worker {
namespace {

double UnixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

absl::StatusOr<std::unique_ptr<TensorBoardProgress>> TensorBoardProgress::Create(
    const std::filesystem::path& dir) {
  auto writer = EventFileWriter::Create(dir, UnixNow());
  if (!writer.ok()) return writer.status();
  return std::unique_ptr<TensorBoardProgress>(new TensorBoardProgress(std::move(*writer)));
}

void TensorBoardProgress::Scalar(const std::string& tag, int64_t step, double value) {
  if (failed_) return;
  const absl::Status status = writer_->WriteScalar(tag, step, static_cast<float>(value), UnixNow());
  if (!status.ok()) {
    spdlog::warn("tensorboard: {} (no more TensorBoard events this run)", status.message());
    failed_ = true;
  }
}

void TensorBoardProgress::OnStep(const StepReport& r) {
  epoch_loss_sum_ += r.value(common::kLoss);
  ++epoch_reports_;
  Scalar("train/epoch", r.step, static_cast<double>(r.epoch));
  Scalar("train/global_step", r.step, static_cast<double>(r.step));
  common::ForEachValue(r.values, common::MetricScope::kRun,
                       [&](const common::StepMetricInfo& info, double value) {
                         Scalar(std::string(info.tensorboard), r.step, value);
                       });
  for (const LayerReport& layer : r.layers) {
    const std::string prefix = absl::StrCat("moe/layer_", layer.layer, "/");
    for (size_t e = 0; e < layer.expert_share.size(); ++e) {
      Scalar(absl::StrCat(prefix, "expert_", e, "_share"), r.step, layer.expert_share[e]);
    }
    common::ForEachValue(layer.values, common::MetricScope::kLayer,
                         [&](const common::StepMetricInfo& info, double value) {
                           Scalar(absl::StrCat(prefix, info.tensorboard), r.step, value);
                         });
  }
  // Every epoch end is reported; a run may also end mid-epoch (max_steps).
  if (r.epoch_ended || r.step == r.total_steps) {
    Scalar("train/epoch_loss", r.step, epoch_loss_sum_ / epoch_reports_);
    epoch_loss_sum_ = 0;
    epoch_reports_ = 0;
  }
}

void TensorBoardProgress::OnCheckpoint(const CheckpointReport& checkpoint) {
  Scalar("checkpoint/save_seconds", checkpoint.step, checkpoint.seconds);
  Scalar("checkpoint/stall_seconds", checkpoint.step, checkpoint.stall_seconds);
}

}  // namespace moe::worker
