#include "worker/report/terminal_progress.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"

namespace moe::worker {
namespace {

std::string Rate(double per_second) {
  if (per_second >= 1e6) return absl::StrFormat("%.1fM", per_second / 1e6);
  if (per_second >= 1e3) return absl::StrFormat("%.0fk", per_second / 1e3);
  return absl::StrFormat("%.0f", per_second);
}

}  // namespace

void TerminalProgress::OnStep(const StepReport& r) {
  std::string line =
      absl::StrFormat("step %d/%d | batch %d/%d | loss %.4f | lr %.2e | %s tok/s", r.step,
                      r.total_steps, r.batch, r.total_batches, r.value(common::kLoss),
                      r.value(common::kLearningRate), Rate(r.value(common::kTokensPerSecond)));
  if (!r.expert_share.empty()) {
    std::vector<std::string> shares;
    for (double s : r.expert_share) shares.push_back(absl::StrFormat("%.0f", 100 * s));
    absl::StrAppend(&line, " | experts ", absl::StrJoin(shares, "/"), "%");
  }
  absl::StrAppendFormat(&line, " | grad %.3g", r.value(common::kGradNorm));
  spdlog::info("{}", line);
}

void TerminalProgress::OnCheckpoint(const CheckpointReport& c) {
  spdlog::info("checkpoint step {} committed in {:.2f} s ({:.1f} MB, {:.0f} MB/s; training {}): {}",
               c.step, c.seconds, c.bytes / 1e6, c.bytes / 1e6 / std::max(c.seconds, 1e-9),
               c.async
                   ? absl::StrFormat("waited %.3f s, the rest in the background", c.stall_seconds)
                   : std::string("waited for all of it"),
               c.dir);
}

void TerminalProgress::OnCheckpointFailed(const CheckpointFailure& failure) {
  spdlog::error(
      "checkpoint step {} FAILED, {}: {}{}", failure.step,
      failure.ends_run ? "the run ends" : "training goes on from the previous one", failure.error,
      failure.disk_full ? absl::StrCat(" (disk full: the save needs about ", failure.bytes_needed,
                                       " bytes under ", failure.dir, ")")
                        : "");
}

void TerminalProgress::OnMessage(const std::string& message) { spdlog::info("{}", message); }

}  // namespace moe::worker
