// moed's command line: every flag (and the `backup FILE` subcommand) registered in one place,
// bound to the daemon's options, with their defaults.
#ifndef MOE_SERVER_MOED_FLAGS_H_
#define MOE_SERVER_MOED_FLAGS_H_

#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "server/daemon.h"
#include "server/preemption_notice.h"

namespace moe::server {

// moe-worker next to moed (an installed tree), or in the build tree's worker/; else
// "moe-worker", looked up on PATH.
std::string DefaultWorkerBinary();
// $XDG_STATE_HOME/moetrain, else $HOME/.local/state/moetrain.
std::string DefaultDataDir();

// The constructor registers every flag on `app`, bound to this object, which must outlive
// app.parse(); the accessors are meaningful after a successful parse. Not thread-safe.
class MoedFlags {
 public:
  enum class Action {
    kServe,   // run the daemon
    kCheck,   // --check: check the catalogue and exit
    kBackup,  // backup FILE: copy the catalogue to backup_file() and exit
  };

  explicit MoedFlags(CLI::App& app);
  MoedFlags(const MoedFlags&) = delete;
  MoedFlags& operator=(const MoedFlags&) = delete;

  Action action() const;
  std::string catalogue_path() const;  // moed.db in --data-dir
  const std::string& backup_file() const { return backup_file_; }
  const std::string& log_level() const { return log_level_; }
  double notice_poll_s() const { return notice_poll_s_; }

  // The daemon's options, the token and TLS files read. InvalidArgument (or the files'
  // errors) when they cannot be read or do not fit together.
  absl::StatusOr<DaemonOptions> Options() const;
  // --preemption-notice's sources. InvalidArgument naming a source that is not aws, gcp or
  // file:PATH.
  absl::StatusOr<std::vector<NoticeSource>> NoticeSources() const;

 private:
  // The flags, in --help's order.
  void AddServingFlags(CLI::App& app);
  void AddSupervisionFlags(CLI::App& app);
  void AddPreemptionFlags(CLI::App& app);
  void AddSecurityFlags(CLI::App& app);
  void AddLauncherFlags(CLI::App& app);
  void AddMaintenanceFlags(CLI::App& app);  // --log-level, --check and backup FILE

  DaemonOptions options_;  // what binds straight to a flag; the rest is filled by Options()
  std::string data_dir_, log_level_ = "info";
  std::string token_file_, tls_cert_, tls_key_, tls_client_ca_;
  std::vector<std::string> allowed_roots_;
  std::vector<std::string> notices_;
  std::string metadata_url_;
  double notice_poll_s_ = 5;
  std::string gpu_memory_, host_memory_;  // admission's sizes, when given
  std::string launcher_ = "local";
  std::string slurm_partition_, slurm_time_, slurm_account_;
  uint32_t slurm_nodes_ = 0, slurm_gpus_ = 0;
  bool check_ = false;
  std::string backup_file_;
  CLI::App* backup_ = nullptr;  // owned by the app
};

}  // namespace moe::server

#endif  // MOE_SERVER_MOED_FLAGS_H_
