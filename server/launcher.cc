#include "server/launcher.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/subprocess.h"

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

std::vector<std::string> WorkerEnvironment(const LaunchRequest& request,
                                           std::vector<std::string> set) {
  std::vector<std::string> env = std::move(set);
  env.insert(env.end(), {absl::StrCat("MOE_COORDINATOR=", request.coordinator),
                         absl::StrCat("MOE_JOB_ID=", request.job_id),
                         absl::StrCat("MOE_ATTEMPT_ID=", request.attempt_id)});
  env.insert(env.end(), request.extra_env.begin(), request.extra_env.end());
  // getenv takes the first of two equal names, so an inherited RANK or MOE_STOP_GRACE_S would
  // be ambiguous: moed's environment comes without the names set above.
  std::set<std::string> names;
  for (const std::string& var : env) names.insert(var.substr(0, var.find('=')));
  for (const std::string& var : CurrentEnvironment()) {
    const std::string name = var.substr(0, var.find('='));
    if (names.count(name) == 0 &&
        !(absl::StartsWith(name, "MOE_TOKEN") || absl::StartsWith(name, "MOE_TLS_") ||
          absl::StartsWith(name, "MOE_WORKER_"))) {
      env.push_back(var);
    }
  }
  return env;
}

}  // namespace moe::server
