#include "worker/train/stop_deadline.h"

#include <unistd.h>

#include <cstdlib>
#include <limits>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/exit_codes.h"
#include "common/logging.h"
#include "common/steady_seconds.h"

namespace moe::worker {

StopDeadline::StopDeadline(const std::atomic<bool>& requested, double grace_s,
                           std::function<void()> on_expired)
    : requested_(requested), grace_s_(grace_s), on_expired_(std::move(on_expired)) {
  if (grace_s_ > 0) watcher_ = std::thread([this] { Watch(); });
}

StopDeadline::~StopDeadline() {
  done_.Notify();
  if (watcher_.joinable()) watcher_.join();
}

double StopDeadline::SecondsLeft() const {
  if (grace_s_ <= 0) return std::numeric_limits<double>::infinity();
  const double at = requested_at_.load();
  return at < 0 ? grace_s_ : grace_s_ - (common::SteadySeconds() - at);
}

void StopDeadline::Watch() {
  while (!requested_.load()) {
    if (done_.WaitForNotificationWithTimeout(absl::Milliseconds(20))) return;
  }
  requested_at_ = common::SteadySeconds();
  if (done_.WaitForNotificationWithTimeout(absl::Seconds(grace_s_))) return;
  if (on_expired_) {
    on_expired_();
    return;
  }
  spdlog::error(
      "stop: the grace period of {} s ended before the stop step's checkpoint was known to be "
      "committed; exiting (unless it was, the previous checkpoint stands)",
      grace_s_);
  spdlog::default_logger()->flush();
  _exit(common::kExitStopTimedOut);
}

absl::StatusOr<double> StopGraceFromEnvironment() {
  const char* value = std::getenv("MOE_STOP_GRACE_S");
  if (value == nullptr || *value == '\0') return 0.0;
  double grace = 0;
  if (!absl::SimpleAtod(value, &grace) || !(grace >= 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("environment variable MOE_STOP_GRACE_S='", value, "': expected seconds >= 0"));
  }
  return grace;
}

}  // namespace moe::worker
