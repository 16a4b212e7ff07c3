// moed: the coordinator daemon. Flags (server/moed_flags.h), logging, the daemon, and a wait
// for SIGINT/SIGTERM or a preemption notice, either of which stops it gracefully.
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/logging.h"
#include "server/catalogue.h"
#include "server/daemon.h"
#include "server/moed_flags.h"
#include "server/preemption_notice.h"

namespace {

// Why moed is stopping: the first signal or preemption notice.
struct StopRequest {
  absl::Mutex mu;
  std::string why ABSL_GUARDED_BY(mu);
  absl::Notification requested;

  void Request(const std::string& reason) {
    absl::MutexLock lock(&mu);
    if (requested.HasBeenNotified()) return;
    why = reason;
    requested.Notify();
  }
};

// --check or backup FILE: 0 when done, 1 with the catalogue's error.
int RunCatalogueCommand(const moe::server::MoedFlags& flags) {
  const bool check = flags.action() == moe::server::MoedFlags::Action::kCheck;
  const std::string catalogue = flags.catalogue_path();
  const absl::Status done = check ? moe::server::Catalogue::Check(catalogue)
                                  : moe::server::Catalogue::Backup(catalogue, flags.backup_file());
  if (!done.ok()) {
    std::cerr << "moed: " << done.message() << std::endl;
    return 1;
  }
  std::cout << "catalogue " << catalogue
            << (check ? ": sound" : absl::StrCat(": copied to ", flags.backup_file())) << std::endl;
  return 0;
}

// Serves until the first SIGINT or SIGTERM (`signals`, blocked in every thread) or preemption
// notice from `sources`, then stops `daemon` gracefully: its workers stop at a step with a
// checkpoint. A second signal exits the process at once, with status 1 (the workers die with
// moed; their jobs resume from their newest checkpoints).
void ServeUntilStopped(moe::server::Daemon& daemon, const sigset_t& signals,
                       std::vector<moe::server::NoticeSource> sources, double notice_poll_s) {
  static StopRequest stop;  // static: the signal thread outlives main
  std::thread([signals] {
    int signal = 0;
    sigwait(&signals, &signal);
    stop.Request(strsignal(signal));
    sigwait(&signals, &signal);
    spdlog::warn("moed: {} again: exiting now; jobs resume from their newest checkpoints",
                 strsignal(signal));
    _exit(1);
  }).detach();
  const moe::server::PreemptionWatcher watcher(
      std::move(sources), notice_poll_s, [](const std::string& notice) { stop.Request(notice); });
  stop.requested.WaitForNotification();
  {
    absl::MutexLock lock(&stop.mu);
    spdlog::info(
        "moed: {}: stopping the workers at a step with a checkpoint (their jobs resume at the "
        "next start)",
        stop.why);
  }
  daemon.Stop(moe::v1::ATTEMPT_CAUSE_PREEMPTED);
  spdlog::info("moed: stopped");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "moed: the moetrain coordinator. Queues jobs submitted with moectl, runs one moe-worker "
      "per device slot, records attempts, checkpoints and steps in SQLite, restarts crashed "
      "jobs from their newest committed checkpoint and resumes interrupted ones when it "
      "starts."};
  moe::server::MoedFlags flags(app);
  CLI11_PARSE(app, argc, argv);
  if (flags.action() != moe::server::MoedFlags::Action::kServe) return RunCatalogueCommand(flags);
  const absl::Status logging = moe::common::SetupLogging(flags.log_level());
  auto options = flags.Options();
  auto sources = flags.NoticeSources();
  for (const absl::Status& usage : {logging, options.status(), sources.status()}) {
    if (!usage.ok()) {
      std::cerr << "moed: " << usage.message() << std::endl;
      return 2;
    }
  }

  // Signals are taken synchronously by one thread; every other thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  auto daemon = moe::server::Daemon::Start(*std::move(options));
  if (!daemon.ok()) {
    spdlog::error("moed: {}", daemon.status().message());
    return daemon.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  std::cout << "moed listening on port " << (*daemon)->port() << ", metrics on port "
            << (*daemon)->metrics_port() << std::endl;
  ServeUntilStopped(**daemon, signals, *std::move(sources), flags.notice_poll_s());
  return 0;
}
