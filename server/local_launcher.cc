#include "server/local_launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/worker_token.h"

namespace moe::server {
namespace {

class LocalWorkers : public WorkerGroup {
 public:
  LocalWorkers(std::vector<pid_t> pids, pid_t process_group)
      : pids_(std::move(pids)), process_group_(process_group) {}

  std::string handle() const override { return ""; }

  std::vector<std::pair<int, int>> Reap() override {
    std::vector<std::pair<int, int>> ended;
    for (size_t rank = 0; rank < pids_.size(); ++rank) {
      if (pids_[rank] < 0) continue;
      int status = 0;
      if (waitpid(pids_[rank], &status, WNOHANG) != pids_[rank]) continue;
      pids_[rank] = -1;
      ended.emplace_back(static_cast<int>(rank), status);
    }
    return ended;
  }

  void Signal(int signal) override { kill(-process_group_, signal); }

 private:
  std::vector<pid_t> pids_;  // by rank; -1 once reaped
  const pid_t process_group_;
};

// The CUDA_VISIBLE_DEVICES value that shows a worker exactly `slots` of moed's devices: moed's
// own list (when it has one) indexed by slot, else the slots as device ordinals.
std::string VisibleDevicesFor(const std::vector<int>& slots) {
  std::vector<std::string> own;
  if (const char* visible = std::getenv("CUDA_VISIBLE_DEVICES"); visible != nullptr) {
    own = absl::StrSplit(visible, ',', absl::SkipEmpty());
  }
  std::vector<std::string> out;
  for (int slot : slots) {
    out.push_back(static_cast<size_t>(slot) < own.size() ? own[slot] : std::to_string(slot));
  }
  return absl::StrJoin(out, ",");
}

}  // namespace

absl::Status LocalLauncher::Admit(const moe::v1::JobSpec& spec, int slots) const {
  const uint32_t world = spec.resources().world_size();
  if (world > static_cast<uint32_t>(slots)) {
    return absl::InvalidArgumentError(absl::StrCat("resources.world_size is ", world,
                                                   " but this moed has ", slots,
                                                   " device slots (more: resources.launcher: "
                                                   "slurm)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<WorkerGroup>> LocalLauncher::Reattach(const std::string& handle, int,
                                                                     const std::filesystem::path&) {
  return absl::NotFoundError(absl::StrCat("local workers die with moed (", handle, ")"));
}

absl::StatusOr<std::unique_ptr<WorkerGroup>> LocalLauncher::Launch(const LaunchRequest& request) {
  std::error_code ec;
  std::filesystem::create_directories(request.log_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat(request.log_dir.string(), ": ", ec.message()));
  const int port = FreeLoopbackPort();
  // The job's own devices, as torchrun sees them under CUDA_VISIBLE_DEVICES: rank r (LOCAL_RANK
  // r) on the r-th of them. Slot i is moed's own i-th visible GPU. A request that names no
  // devices leaves moed's own list to the ranks (an empty list would hide every GPU).
  std::vector<std::string> placement;
  if (!request.devices.empty()) {
    placement.push_back(absl::StrCat("CUDA_VISIBLE_DEVICES=", VisibleDevicesFor(request.devices)));
  }
  std::vector<pid_t> pids;
  pid_t process_group = 0;
  for (int rank = 0; rank < request.world_size; ++rank) {
    std::vector<std::string> args = {request.worker_binary, "train", "--spec",
                                     request.spec.string()};
    if (!request.resume_from.empty()) {
      args.insert(args.end(), {"--resume-from", request.resume_from});
    }
    std::vector<std::string> set = {
        absl::StrCat("RANK=", rank),
        absl::StrCat("LOCAL_RANK=", rank),
        absl::StrCat("WORLD_SIZE=", request.world_size),
        "MASTER_ADDR=127.0.0.1",
        absl::StrCat("MASTER_PORT=", port),
        absl::StrCat(
            common::kWorkerTokenVariable, "=",
            common::WorkerToken(request.worker_secret, request.job_id, request.attempt_id, rank))};
    set.insert(set.end(), placement.begin(), placement.end());
    std::vector<std::string> env = WorkerEnvironment(request, std::move(set));
    std::vector<char*> argv, envp;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (std::string& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);

    const std::filesystem::path log = request.log_dir / absl::StrCat("rank-", rank, ".log");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    // moed blocks SIGTERM and SIGINT to take them synchronously: workers must not inherit that.
    sigset_t none, stop_signals;
    sigemptyset(&none);
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    posix_spawnattr_setsigmask(&attributes, &none);
    posix_spawnattr_setsigdefault(&attributes, &stop_signals);
    posix_spawnattr_setflags(
        &attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attributes, process_group);  // 0: a new group
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, request.worker_binary.c_str(), &actions, &attributes,
                               argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    if (rc != 0) {
      if (process_group > 0) {
        kill(-process_group, SIGKILL);
        for (pid_t started : pids) waitpid(started, nullptr, 0);
      }
      return absl::InternalError(absl::StrCat("cannot start ", request.worker_binary, " (rank ",
                                              rank, "): ", std::strerror(rc)));
    }
    if (rank == 0) process_group = pid;
    pids.push_back(pid);
  }
  return std::make_unique<LocalWorkers>(std::move(pids), process_group);
}

}  // namespace moe::server
