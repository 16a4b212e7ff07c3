// moed: the coordinator daemon. Flags, logging, security, the daemon, and a wait for
// SIGINT/SIGTERM or a preemption notice, either of which stops it gracefully.
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/logging.h"
#include "server/daemon.h"
#include "server/preemption_notice.h"
#include "server/store.h"

namespace {

// moe-worker next to moed (an installed tree), or in the build tree's worker/.
std::string DefaultWorkerBinary() {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  for (const auto& candidate : {self.parent_path() / "moe-worker",
                                self.parent_path().parent_path() / "worker" / "moe-worker"}) {
    if (std::filesystem::exists(candidate)) return candidate.string();
  }
  return "moe-worker";
}

std::string DefaultDataDir() {
  const char* state = std::getenv("XDG_STATE_HOME");
  const char* home = std::getenv("HOME");
  if (state != nullptr && *state != '\0') return std::string(state) + "/moetrain";
  return std::string(home != nullptr ? home : ".") + "/.local/state/moetrain";
}

// Why moed is stopping: the first signal or preemption notice. Static: the signal thread
// outlives main.
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "moed: the moetrain coordinator. Queues jobs submitted with moectl, runs one moe-worker "
      "per device slot, records attempts, checkpoints and steps in SQLite, restarts crashed "
      "jobs from their newest committed checkpoint and resumes interrupted ones when it "
      "starts."};
  moe::server::DaemonOptions options;
  options.data_dir = DefaultDataDir();
  options.coordinator.worker_binary = DefaultWorkerBinary();
  options.coordinator.slots = 0;  // the daemon's default: GPUs, else cores
  std::string data_dir = options.data_dir.string(), log_level = "info", metadata_url;
  std::vector<std::string> notices, allowed_roots;
  std::string token_file, tls_cert, tls_key, tls_client_ca;
  double notice_poll_s = 5;
  app.add_option("--data-dir", data_dir, "Catalogue (moed.db), job specs and worker logs")
      ->capture_default_str();
  app.add_option("--listen", options.listen, "gRPC address (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--metrics-listen", options.metrics_listen,
                 "Prometheus /metrics address (port 0: any free port; empty: none)")
      ->capture_default_str();
  app.add_option("--slots", options.coordinator.slots,
                 "Device slots to schedule on (default: one per GPU NVML sees, else one per CPU "
                 "core)")
      ->check(CLI::PositiveNumber);
  app.add_option("--nvml-library", options.nvml_library,
                 "NVML shared library for GPU inventory and metrics")
      ->capture_default_str();
  app.add_option("--worker-bin", options.coordinator.worker_binary, "The moe-worker executable")
      ->capture_default_str();
  app.add_option("--heartbeat-timeout", options.coordinator.heartbeat_timeout_s,
                 "Seconds without a heartbeat before a worker counts as hung")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--stall-factor", options.coordinator.stall_factor,
                 "A running attempt whose step reports stop for this many times their median "
                 "interval (and --stall-min seconds at least), while no rank is saving or "
                 "evaluating, is stuck (e.g. a rank in a collective whose peer stopped) and "
                 "restarted; 0 turns the watchdog off")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--stall-min", options.coordinator.stall_min_s,
                 "The stall watchdog's shortest limit, in seconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--backoff-max", options.coordinator.backoff_max_s,
                 "Longest wait, in seconds, before restarting a crashed job (doubles from 1)")
      ->capture_default_str();
  app.add_option("--stop-grace", options.coordinator.stop_grace_s,
                 "Seconds the workers get to stop at a step with a checkpoint (cancel, SIGTERM, a "
                 "preemption notice) before SIGKILL; they give up on the checkpoint a little "
                 "earlier (the previous one stands)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--preemption-notice", notices,
                 "Watch for the machine going away and stop as for SIGTERM: aws (EC2 spot "
                 "instance-action, IMDSv2), gcp (GCE instance/preempted) or file:PATH (a file that "
                 "appears, e.g. from a Kubernetes preStop hook); repeatable");
  app.add_option("--metadata-url", metadata_url,
                 "Base URL of the cloud metadata service for aws/gcp notices (default: the "
                 "cloud's own, http://169.254.169.254 or http://metadata.google.internal)");
  app.add_option("--notice-poll", notice_poll_s, "Seconds between preemption-notice polls")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--token-file", token_file,
                 "File whose first line is the bearer token every client (moectl, workers) must "
                 "send; required for a --listen address other machines can reach")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-cert", tls_cert, "TLS certificate chain (PEM) to serve gRPC with")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-key", tls_key, "Private key (PEM) of --tls-cert")->check(CLI::ExistingFile);
  app.add_option("--tls-client-ca", tls_client_ca,
                 "Require client certificates signed by this CA (PEM); the workers present "
                 "moed's own certificate")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-worker-ca", options.worker_tls_ca_file,
                 "CA (PEM) the workers check moed's certificate against (default: --tls-cert, "
                 "right for a self-signed certificate)")
      ->check(CLI::ExistingFile);
  app.add_option("--allowed-root", allowed_roots,
                 "Job specs may only name paths (model, tokenizer, data, output and resume "
                 "directories) under these directories; repeatable (default: anywhere)");
  std::string launcher = "local";
  moe::v1::SlurmSpec& slurm = options.coordinator.slurm.defaults;
  std::string slurm_partition, slurm_time, slurm_account;
  uint32_t slurm_nodes = 0, slurm_gpus = 0;
  app.add_option("--launcher", launcher,
                 "How jobs that do not say (resources.launcher) start their workers: local "
                 "(children of moed, on its --slots) or slurm (one sbatch job per attempt, one "
                 "srun task per rank)")
      ->check(CLI::IsMember({"local", "slurm"}))
      ->capture_default_str();
  app.add_option("--slurm-partition", slurm_partition,
                 "Slurm partition for jobs whose resources.slurm does not name one (default: "
                 "the cluster's default)");
  app.add_option("--slurm-account", slurm_account, "Slurm account to charge, likewise");
  app.add_option("--slurm-time-limit", slurm_time,
                 "Slurm time limit (sbatch --time, e.g. 4:00:00), likewise; at the limit the "
                 "workers stop with a checkpoint and moed submits the next attempt");
  app.add_option("--slurm-nodes", slurm_nodes, "Nodes per Slurm job, likewise (default 1)");
  app.add_option("--slurm-gpus-per-node", slurm_gpus,
                 "GPUs per node, one rank each, likewise (default 0: CPU tasks)");
  app.add_option("--slurm-poll", options.coordinator.slurm.poll_s,
                 "Seconds between squeue calls per running Slurm job")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--advertise-host", options.advertise_host,
                 "Host name workers on other machines (Slurm nodes) reach moed by (default: the "
                 "--listen host, or this machine's name when it is 0.0.0.0)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn or error")
      ->capture_default_str();
  bool check = false;
  app.add_flag("--check", check,
               "Check the catalogue (moed.db in --data-dir) thoroughly and exit: 0 when it is "
               "sound, 1 with its problems; safe while a moed runs on it");
  std::string backup_file;
  CLI::App* backup = app.add_subcommand(
      "backup", "Copy the catalogue to FILE and exit; consistent while a moed runs on it");
  backup->add_option("file", backup_file, "A new file for the copy")->required();
  backup->fallthrough();  // moed backup FILE --data-dir DIR
  CLI11_PARSE(app, argc, argv);
  if (check || *backup) {
    const std::string catalogue = (std::filesystem::path(data_dir) / "moed.db").string();
    const absl::Status done = check ? moe::server::Store::Check(catalogue)
                                    : moe::server::Store::Backup(catalogue, backup_file);
    if (!done.ok()) {
      std::cerr << "moed: " << done.message() << std::endl;
      return 1;
    }
    std::cout << "catalogue " << catalogue
              << (check ? ": sound" : absl::StrCat(": copied to ", backup_file)) << std::endl;
    return 0;
  }
  if (const absl::Status logging = moe::common::SetupLogging(log_level); !logging.ok()) {
    std::cerr << "moed: " << logging.message() << std::endl;
    return 2;
  }
  options.data_dir = data_dir;
  options.coordinator.default_launcher =
      launcher == "slurm" ? moe::v1::LAUNCHER_SLURM : moe::v1::LAUNCHER_LOCAL;
  slurm.set_partition(slurm_partition);
  slurm.set_account(slurm_account);
  slurm.set_time_limit(slurm_time);
  slurm.set_nodes(slurm_nodes);
  slurm.set_gpus_per_node(slurm_gpus);
  auto security = moe::common::LoadServerSecurity(token_file, tls_cert, tls_key, tls_client_ca);
  if (!security.ok()) {
    std::cerr << "moed: " << security.status().message() << std::endl;
    return 2;
  }
  options.security = *std::move(security);
  if (options.worker_tls_ca_file.empty()) options.worker_tls_ca_file = tls_cert;
  options.worker_tls_cert_file = tls_cert;
  options.worker_tls_key_file = tls_key;
  for (const std::string& root : allowed_roots) options.coordinator.allowed_roots.push_back(root);
  std::vector<moe::server::NoticeSource> sources;
  for (const std::string& text : notices) {
    auto source = moe::server::ParseNoticeSource(text, metadata_url);
    if (!source.ok()) {
      std::cerr << "moed: " << source.status().message() << std::endl;
      return 2;
    }
    sources.push_back(*std::move(source));
  }

  // Signals are taken synchronously by this thread; every other thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto daemon = moe::server::Daemon::Start(options);
  if (!daemon.ok()) {
    spdlog::error("moed: {}", daemon.status().message());
    return daemon.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  std::cout << "moed listening on port " << (*daemon)->port() << ", metrics on port "
            << (*daemon)->metrics_port() << std::endl;
  static StopRequest stop;
  std::thread([signals] {
    int signal = 0;
    sigwait(&signals, &signal);
    stop.Request(strsignal(signal));
    sigwait(&signals, &signal);  // a second one: at once (the workers die with moed)
    spdlog::warn("moed: {} again: exiting now; jobs resume from their newest checkpoints",
                 strsignal(signal));
    _exit(1);
  }).detach();
  const moe::server::PreemptionWatcher watcher(
      sources, notice_poll_s, [](const std::string& notice) { stop.Request(notice); });
  stop.requested.WaitForNotification();
  {
    absl::MutexLock lock(&stop.mu);
    spdlog::info(
        "moed: {}: stopping the workers at a step with a checkpoint (their jobs resume at the "
        "next start)",
        stop.why);
  }
  (*daemon)->Stop(moe::v1::ATTEMPT_CAUSE_PREEMPTED);
  spdlog::info("moed: stopped");
  return 0;
}
