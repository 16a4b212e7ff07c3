#include "worker/train/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace moe::worker {

LrSchedule::LrSchedule(const moe::v1::TrainingSpec& spec, int64_t total_steps)
    : base_(spec.learning_rate()),
      warmup_(spec.warmup_steps()),
      total_steps_(std::max<int64_t>(total_steps, 1)),
      kind_(spec.lr_schedule()) {}

double LrSchedule::At(int64_t step) const {
  if (step <= warmup_) return base_ * static_cast<double>(step) / std::max<int64_t>(warmup_, 1);
  if (kind_ == moe::v1::LR_SCHEDULE_CONSTANT) return base_;
  const double progress = std::clamp(
      static_cast<double>(step - warmup_) / std::max<int64_t>(total_steps_ - warmup_, 1), 0.0, 1.0);
  if (kind_ == moe::v1::LR_SCHEDULE_COSINE) return base_ * 0.5 * (1.0 + std::cos(M_PI * progress));
  return base_ * (1.0 - progress);
}

}  // namespace moe::worker
