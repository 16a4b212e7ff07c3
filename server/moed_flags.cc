#include "server/moed_flags.h"

#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <tuple>

#include "common/rpc_security.h"
#include "plan/job_plan.h"

namespace moe::server {

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

MoedFlags::MoedFlags(CLI::App& app) {
  data_dir_ = DefaultDataDir();
  options_.coordinator.worker_binary = DefaultWorkerBinary();
  options_.coordinator.slots = 0;  // the daemon's default: GPUs, else cores
  AddServingFlags(app);
  AddSupervisionFlags(app);
  AddPreemptionFlags(app);
  AddSecurityFlags(app);
  AddLauncherFlags(app);
  AddMaintenanceFlags(app);
}

void MoedFlags::AddServingFlags(CLI::App& app) {
  app.add_option("--data-dir", data_dir_, "Catalogue (moed.db), job specs and worker logs")
      ->capture_default_str();
  app.add_option("--listen", options_.listen, "gRPC address (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--metrics-listen", options_.metrics_listen,
                 "Prometheus /metrics address (port 0: any free port; empty: none)")
      ->capture_default_str();
  app.add_option("--slots", options_.coordinator.slots,
                 "Device slots to schedule on (default: one per GPU NVML sees, else one per CPU "
                 "core)")
      ->check(CLI::PositiveNumber);
  app.add_option("--nvml-library", options_.nvml_library,
                 "NVML shared library for GPU inventory and metrics")
      ->capture_default_str();
  app.add_option("--worker-bin", options_.coordinator.worker_binary, "The moe-worker executable")
      ->capture_default_str();
  app.add_option("--gpu-memory", gpu_memory_,
                 "Memory of one GPU that submitted jobs' memory plans are admitted against, "
                 "e.g. 80GiB (default: the smallest GPU NVML sees; for Slurm jobs: none)");
  app.add_option("--host-memory", host_memory_,
                 "Memory of one node, likewise, e.g. 1TiB (default: this machine's physical "
                 "memory; for Slurm jobs: none)");
}

void MoedFlags::AddSupervisionFlags(CLI::App& app) {
  CoordinatorOptions& coordinator = options_.coordinator;
  app.add_option("--heartbeat-timeout", coordinator.heartbeat_timeout_s,
                 "Seconds without a heartbeat before a worker counts as hung")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--stall-factor", coordinator.stall_factor,
                 "A running attempt whose step reports stop for this many times their median "
                 "interval (and --stall-min seconds at least), while no rank is saving or "
                 "evaluating, is stuck (e.g. a rank in a collective whose peer stopped) and "
                 "restarted; 0 turns the watchdog off")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--stall-min", coordinator.stall_min_s,
                 "The stall watchdog's shortest limit, in seconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--backoff-max", coordinator.backoff_max_s,
                 "Longest wait, in seconds, before restarting a crashed job (doubles from 1)")
      ->capture_default_str();
  app.add_option("--stop-grace", coordinator.stop_grace_s,
                 "Seconds the workers get to stop at a step with a checkpoint (cancel, SIGTERM, a "
                 "preemption notice) before SIGKILL; they give up on the checkpoint a little "
                 "earlier (the previous one stands)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
}

void MoedFlags::AddPreemptionFlags(CLI::App& app) {
  app.add_option("--preemption-notice", notices_,
                 "Watch for the machine going away and stop as for SIGTERM: aws (EC2 spot "
                 "instance-action, IMDSv2), gcp (GCE instance/preempted) or file:PATH (a file that "
                 "appears, e.g. from a Kubernetes preStop hook); repeatable");
  app.add_option("--metadata-url", metadata_url_,
                 "Base URL of the cloud metadata service for aws/gcp notices (default: the "
                 "cloud's own, http://169.254.169.254 or http://metadata.google.internal)");
  app.add_option("--notice-poll", notice_poll_s_, "Seconds between preemption-notice polls")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
}

void MoedFlags::AddSecurityFlags(CLI::App& app) {
  app.add_option("--token-file", token_file_,
                 "File whose first line is the bearer token every client (moectl, workers) must "
                 "send; required for a --listen address other machines can reach")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-cert", tls_cert_, "TLS certificate chain (PEM) to serve gRPC with")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-key", tls_key_, "Private key (PEM) of --tls-cert")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-client-ca", tls_client_ca_,
                 "Require client certificates signed by this CA (PEM); the workers present "
                 "moed's own certificate")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-worker-ca", options_.worker_tls_ca_file,
                 "CA (PEM) the workers check moed's certificate against (default: --tls-cert, "
                 "right for a self-signed certificate)")
      ->check(CLI::ExistingFile);
  app.add_option("--allowed-root", allowed_roots_,
                 "Job specs may only name paths (model, tokenizer, data, output and resume "
                 "directories) under these directories; repeatable (default: anywhere)");
}

void MoedFlags::AddLauncherFlags(CLI::App& app) {
  app.add_option("--launcher", launcher_,
                 "How jobs that do not say (resources.launcher) start their workers: local "
                 "(children of moed, on its --slots) or slurm (one sbatch job per attempt, one "
                 "srun task per rank)")
      ->check(CLI::IsMember({"local", "slurm"}))
      ->capture_default_str();
  app.add_option("--slurm-partition", slurm_partition_,
                 "Slurm partition for jobs whose resources.slurm does not name one (default: "
                 "the cluster's default)");
  app.add_option("--slurm-account", slurm_account_, "Slurm account to charge, likewise");
  app.add_option("--slurm-time-limit", slurm_time_,
                 "Slurm time limit (sbatch --time, e.g. 4:00:00), likewise; at the limit the "
                 "workers stop with a checkpoint and moed submits the next attempt");
  app.add_option("--slurm-nodes", slurm_nodes_, "Nodes per Slurm job, likewise (default 1)");
  app.add_option("--slurm-gpus-per-node", slurm_gpus_,
                 "GPUs per node, one rank each, likewise (default 0: CPU tasks)");
  app.add_option("--slurm-poll", options_.coordinator.slurm.poll_s,
                 "Seconds between squeue calls per running Slurm job")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--advertise-host", options_.advertise_host,
                 "Host name workers on other machines (Slurm nodes) reach moed by (default: the "
                 "--listen host, or this machine's name when it is 0.0.0.0)");
}

void MoedFlags::AddMaintenanceFlags(CLI::App& app) {
  app.add_option("--log-level", log_level_, "trace, debug, info, warn or error")
      ->capture_default_str();
  app.add_flag("--check", check_,
               "Check the catalogue (moed.db in --data-dir) thoroughly and exit: 0 when it is "
               "sound, 1 with its problems; safe while a moed runs on it");
  backup_ = app.add_subcommand(
      "backup", "Copy the catalogue to FILE and exit; consistent while a moed runs on it");
  backup_->add_option("file", backup_file_, "A new file for the copy")->required();
  backup_->fallthrough();  // moed backup FILE --data-dir DIR
}

MoedFlags::Action MoedFlags::action() const {
  if (check_) return Action::kCheck;
  return *backup_ ? Action::kBackup : Action::kServe;
}

std::string MoedFlags::catalogue_path() const {
  return (std::filesystem::path(data_dir_) / "moed.db").string();
}

absl::StatusOr<DaemonOptions> MoedFlags::Options() const {
  DaemonOptions options = options_;
  options.data_dir = data_dir_;
  options.coordinator.default_launcher =
      launcher_ == "slurm" ? moe::v1::LAUNCHER_SLURM : moe::v1::LAUNCHER_LOCAL;
  moe::v1::SlurmSpec& slurm = options.coordinator.slurm.defaults;
  slurm.set_partition(slurm_partition_);
  slurm.set_account(slurm_account_);
  slurm.set_time_limit(slurm_time_);
  slurm.set_nodes(slurm_nodes_);
  slurm.set_gpus_per_node(slurm_gpus_);
  auto security = common::LoadServerSecurity(token_file_, tls_cert_, tls_key_, tls_client_ca_);
  if (!security.ok()) return security.status();
  options.security = *std::move(security);
  if (options.worker_tls_ca_file.empty()) options.worker_tls_ca_file = tls_cert_;
  options.worker_tls_cert_file = tls_cert_;
  options.worker_tls_key_file = tls_key_;
  for (const std::string& root : allowed_roots_) options.coordinator.allowed_roots.push_back(root);
  MachineMemory& memory = options.coordinator.memory;
  for (const auto& [flag, text, bytes] :
       {std::tuple{"--gpu-memory", &gpu_memory_, &memory.slurm.gpu_bytes},
        std::tuple{"--host-memory", &host_memory_, &memory.slurm.host_bytes}}) {
    if (text->empty()) continue;
    const absl::StatusOr<int64_t> parsed = plan::ParseBytes(*text);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(flag, ": ", parsed.status().message()));
    }
    *bytes = *parsed;
  }
  memory.local = memory.slurm;  // the daemon fills what the flags leave unknown
  return options;
}

absl::StatusOr<std::vector<NoticeSource>> MoedFlags::NoticeSources() const {
  std::vector<NoticeSource> sources;
  for (const std::string& text : notices_) {
    auto source = ParseNoticeSource(text, metadata_url_);
    if (!source.ok()) return source.status();
    sources.push_back(*std::move(source));
  }
  return sources;
}

}  // namespace moe::server
