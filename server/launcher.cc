#include "server/launcher.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

extern char** environ;

namespace moe::server {

int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

absl::StatusOr<LaunchedAttempt> LaunchWorkers(const LaunchRequest& request) {
  std::error_code ec;
  std::filesystem::create_directories(request.log_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat(request.log_dir.string(), ": ", ec.message()));
  const int port = FreeLoopbackPort();
  LaunchedAttempt launched;
  for (int rank = 0; rank < request.world_size; ++rank) {
    std::vector<std::string> args = {request.worker_binary, "train", "--spec",
                                     request.spec.string()};
    if (!request.resume_from.empty()) {
      args.insert(args.end(), {"--resume-from", request.resume_from});
    }
    std::vector<std::string> env = {absl::StrCat("RANK=", rank),
                                    absl::StrCat("LOCAL_RANK=", rank),
                                    absl::StrCat("WORLD_SIZE=", request.world_size),
                                    "MASTER_ADDR=127.0.0.1",
                                    absl::StrCat("MASTER_PORT=", port),
                                    absl::StrCat("MOE_COORDINATOR=", request.coordinator),
                                    absl::StrCat("MOE_JOB_ID=", request.job_id),
                                    absl::StrCat("MOE_ATTEMPT_ID=", request.attempt_id)};
    env.insert(env.end(), request.extra_env.begin(), request.extra_env.end());
    // Then moed's own environment, without the variables set above (getenv takes the first,
    // so an inherited RANK or MOE_STOP_GRACE_S would be ambiguous) and without any inherited
    // MOE_TOKEN or MOE_TLS_*: only moed's own security reaches the workers.
    std::set<std::string> names;
    for (const std::string& var : env) names.insert(var.substr(0, var.find('=')));
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string var = *e;
      const std::string name = var.substr(0, var.find('='));
      if (names.count(name) == 0 &&
          !(absl::StartsWith(name, "MOE_TOKEN") || absl::StartsWith(name, "MOE_TLS_"))) {
        env.push_back(var);
      }
    }
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
    posix_spawnattr_setpgroup(&attributes, launched.process_group);  // 0: a new group
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, request.worker_binary.c_str(), &actions, &attributes,
                               argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    if (rc != 0) {
      if (launched.process_group > 0) kill(-launched.process_group, SIGKILL);
      return absl::InternalError(absl::StrCat("cannot start ", request.worker_binary, " (rank ",
                                              rank, "): ", std::strerror(rc)));
    }
    if (rank == 0) launched.process_group = pid;
    launched.pids.push_back(pid);
    launched.logs.push_back(log);
  }
  return launched;
}

}  // namespace moe::server
