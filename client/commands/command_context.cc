#include "client/commands/command_context.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "client/moectl.h"
#include "common/rpc_security.h"

namespace moe::client {

JobClient& CommandContext::Client() {
  if (!client_) {
    const auto security = common::LoadClientSecurity(flags.token_file, flags.tls_ca);
    if (!security.ok()) {
      // A usage error (exit code 2), reported as CLI11 reports its own.
      throw CLI::RuntimeError(absl::StrCat("moectl: ", security.status().message()), kExitUsage);
    }
    client_ = std::make_unique<JobClient>(flags.server, *security);
  }
  return *client_;
}

int ExitFor(const absl::Status& status) {
  if (status.ok()) return 0;
  std::cerr << "moectl: " << status.message() << std::endl;
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
      return kExitUnreachable;
    case absl::StatusCode::kInvalidArgument:
      return kExitUsage;
    default:
      return kExitRefused;
  }
}

int Watch(JobClient& client, int64_t id, const GlobalFlags& flags) {
  const bool tty = isatty(STDOUT_FILENO) && !flags.json();
  moe::v1::Job last;
  const auto started = std::chrono::steady_clock::now();
  int64_t first_step = -1;
  const absl::Status status = client.Watch(id, [&](const moe::v1::JobProgress& p) {
    if (flags.json()) {
      std::cout << ToJson(p) << std::endl;
    } else {
      if (p.job().state() != last.state()) {
        std::cout << (tty ? "\r\33[K" : "") << "job " << id << ": " << StateName(p.job().state())
                  << (p.job().failure().empty() ? "" : " (" + p.job().failure() + ")") << std::endl;
      }
      for (const moe::v1::Checkpoint& c : p.checkpoints()) {
        std::cout << (tty ? "\r\33[K" : "") << "checkpoint step " << c.step() << ": " << c.path()
                  << std::endl;
      }
      if (!p.steps().empty()) {
        const moe::v1::StepMetrics& s = p.steps(p.steps_size() - 1);
        if (first_step < 0) first_step = s.step() - 1;
        const double elapsed =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        const double rate = (s.step() - first_step) / std::max(elapsed, 1e-9);
        const double eta = (s.total_steps() - s.step()) / std::max(rate, 1e-9);
        std::cout << (tty ? "\r\33[K" : "") << ProgressLine(s, eta) << (tty ? "" : "\n")
                  << std::flush;
      }
    }
    last = p.job();
  });
  if (tty) std::cout << std::endl;
  if (!status.ok()) return ExitFor(status);
  if (!flags.json() && last.state() == moe::v1::JOB_STATE_COMPLETED) {
    std::cout << "model and checkpoints: " << last.spec().checkpoint().output_dir()
              << "\nlogs: moectl logs " << id << "  (files under " << last.job_dir() << ")"
              << std::endl;
  }
  return last.state() == moe::v1::JOB_STATE_COMPLETED ? 0 : kExitJobFailed;
}

}  // namespace moe::client
