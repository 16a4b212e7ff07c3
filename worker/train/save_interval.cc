#include "worker/train/save_interval.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"

namespace moe::worker {
namespace {

constexpr double kWeight = 1.0 / 3;  // of a new measurement in the average

void Average(double& average, double value) {
  average = average == 0 ? value : average + kWeight * (value - average);
}

}  // namespace

double DalyIntervalSeconds(double save_cost_s, double mtbi_s) {
  const double delta = save_cost_s, m = mtbi_s;
  if (delta >= 2 * m) return m;
  const double r = delta / (2 * m);
  return std::sqrt(2 * delta * m) * (1 + std::sqrt(r) / 3 + r / 9) - delta;
}

void SaveInterval::ObserveStep(double seconds) {
  if (!(seconds > 0)) return;
  Average(step_s_, seconds);
  Update();
}

void SaveInterval::ObserveSave(double seconds) {
  if (!(seconds > 0)) return;
  Average(save_s_, seconds);
  Update();
}

void SaveInterval::Update() {
  if (step_s_ == 0 || save_s_ == 0) return;
  steps_ = std::max<int64_t>(1, std::llround(DalyIntervalSeconds(save_s_, mtbi_s_) / step_s_));
}

std::string SaveInterval::Why() const {
  const std::string mtbi = absl::FormatDuration(absl::Seconds(std::round(mtbi_s_)));
  if (steps_ == 0) {
    return absl::StrFormat("interruptions every %s; a save is due to measure its cost", mtbi);
  }
  return absl::StrFormat(
      "a save costs training %.3g s, a step takes %.3g s, interruptions every %s: Young/Daly "
      "every %.3g s = %d steps",
      save_s_, step_s_, mtbi, DalyIntervalSeconds(save_s_, mtbi_s_), steps_);
}

}  // namespace moe::worker
