#include "client/format.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "common/step_metrics.h"
#include "google/protobuf/util/json_util.h"

namespace moe::client {
namespace {

std::string When(double unix_s) {
  if (unix_s <= 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixSeconds(static_cast<int64_t>(unix_s)),
                          absl::LocalTimeZone());
}

std::string Duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<int64_t>(seconds);
  return s >= 3600 ? absl::StrFormat("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                   : absl::StrFormat("%d:%02d", s / 60, s % 60);
}

std::string Rate(double per_second) {
  if (per_second >= 1e6) return absl::StrFormat("%.1fM", per_second / 1e6);
  if (per_second >= 1e3) return absl::StrFormat("%.1fk", per_second / 1e3);
  return absl::StrFormat("%.0f", per_second);
}

// A reported metric's value; 0 when the step did not report it.
double Value(const moe::v1::StepMetrics& step, common::StepMetric metric) {
  return common::FindByKey(step.values(), metric).value_or(0);
}

}  // namespace

std::string StateName(moe::v1::JobState state) {
  return std::string(absl::StripPrefix(moe::v1::JobState_Name(state), "JOB_STATE_"));
}

std::string ToJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  // Printing a valid message to JSON cannot fail.
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

std::string JobListHeader() {
  return absl::StrFormat("%-6s %-24s %-12s %-13s %-8s %s", "ID", "NAME", "STATE", "STEP",
                         "RESTARTS", "SUBMITTED");
}

std::string JobListLine(const moe::v1::Job& job) {
  return absl::StrFormat(
      "%-6d %-24s %-12s %-13s %-8s %s", job.id(), job.name(), StateName(job.state()),
      absl::StrCat(job.step(), "/",
                   job.total_steps() > 0 ? absl::StrCat(job.total_steps()) : std::string("?")),
      absl::StrCat(job.restarts(), "/", job.max_restarts()), When(job.submitted_unix_s()));
}

std::string JobDetails(const moe::v1::Job& job, const moe::v1::ListAttemptsResponse& attempts,
                       const moe::v1::ListCheckpointsResponse& checkpoints) {
  std::string out = absl::StrFormat(
      "job %d: %s\n  state       %s%s\n  step        %d/%d\n  workers     %d\n"
      "  restarts    %d of %d\n  submitted   %s\n  output      %s\n  logs        %s\n",
      job.id(), job.name(), StateName(job.state()),
      job.failure().empty() ? (job.waiting().empty() ? "" : " (" + job.waiting() + ")")
                            : " (" + job.failure() + ")",
      job.step(), job.total_steps(), job.world_size(), job.restarts(), job.max_restarts(),
      When(job.submitted_unix_s()), job.spec().checkpoint().output_dir(), job.job_dir());
  if (!checkpoints.checkpoints().empty()) {
    const moe::v1::Checkpoint& c = checkpoints.checkpoints(0);
    absl::StrAppendFormat(&out, "  checkpoint  step %d: %s (%d committed)\n", c.step(), c.path(),
                          checkpoints.checkpoints_size());
    if (c.save_seconds() > 0) {
      absl::StrAppendFormat(&out, "  saved in    %.2f s, training waited %.3f s%s\n",
                            c.save_seconds(), c.stall_seconds(),
                            c.async() ? " (the rest in the background)" : "");
    }
    if (!c.interval_why().empty()) {
      absl::StrAppendFormat(
          &out, "  saves       %s%s\n",
          c.interval_steps() > 0 ? absl::StrCat("every ", c.interval_steps(), " steps: ") : "",
          c.interval_why());
    }
  }
  for (const moe::v1::Attempt& a : attempts.attempts()) {
    absl::StrAppendFormat(
        &out, "  attempt %d  %s, %d workers%s%s: %s\n", a.id(), When(a.started_unix_s()),
        a.world_size(), a.launcher_handle().empty() ? "" : " (" + a.launcher_handle() + ")",
        a.resume_from().empty() ? "" : ", from " + a.resume_from(),
        a.ended_unix_s() == 0
            ? std::string("running")
            : absl::StrCat(absl::AsciiStrToLower(absl::StripPrefix(
                               moe::v1::AttemptCause_Name(a.cause()), "ATTEMPT_CAUSE_")),
                           a.exit_code() ? absl::StrCat(" (exit code ", a.exit_code(), ")") : "",
                           a.signal() ? absl::StrCat(" (signal ", a.signal(), ")") : ""));
  }
  return out;
}

std::string ProgressLine(const moe::v1::StepMetrics& step, double eta_seconds) {
  const int64_t total = std::max<int64_t>(step.total_steps(), 1);
  const double done = std::min(1.0, static_cast<double>(step.step()) / total);
  constexpr int kWidth = 20;
  const int filled = static_cast<int>(done * kWidth);
  std::string line = absl::StrFormat(
      "[%s%s] step %d/%d %3.0f%% | loss %.4f | lr %.2e | %s tok/s | ETA %s",
      std::string(filled, '#'), std::string(kWidth - filled, '.'), step.step(), total, 100 * done,
      Value(step, common::kLoss), Value(step, common::kLearningRate),
      Rate(Value(step, common::kTokensPerSecond)), Duration(eta_seconds));
  if (!step.expert_share().empty()) {
    std::vector<std::string> shares;
    for (double s : step.expert_share()) shares.push_back(absl::StrFormat("%.0f", 100 * s));
    absl::StrAppend(&line, " | experts ", absl::StrJoin(shares, "/"), "%");
  }
  return line;
}

}  // namespace moe::client
