// Multi-process tests: real worker processes on loopback, one per rank, launched with
// torchrun's environment (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT) and
// MOE_DIST_TIMEOUT_S; each rank's stdout and stderr go to a file.
#ifndef MOE_TESTS_TESTING_LAUNCH_RANKS_H_
#define MOE_TESTS_TESTING_LAUNCH_RANKS_H_

#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

extern char** environ;

namespace moe::worker::testing {

// A TCP port on loopback that was free a moment ago.
inline int FreePort() {
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

struct RankProcess {
  int rank;
  pid_t pid;
  std::string output;  // file with its stdout and stderr
};

// Starts `command` (a shell command line) once for each of `ranks` of a job of `world` ranks
// rendezvousing on `port`.
inline std::vector<RankProcess> LaunchRanks(const std::string& command, int world,
                                            const std::vector<int>& ranks, int port,
                                            int timeout_s = 120) {
  static int launches = 0;
  std::vector<RankProcess> launched;
  for (int rank : ranks) {
    const std::string out = absl::StrCat(::testing::TempDir(), "moe_rank_", getpid(), "_",
                                         ++launches, "_", rank, ".log");
    const std::string line =
        absl::StrCat("RANK=", rank, " LOCAL_RANK=", rank, " WORLD_SIZE=", world,
                     " MASTER_ADDR=127.0.0.1 MASTER_PORT=", port, " MOE_DIST_TIMEOUT_S=", timeout_s,
                     " exec ", command, " > ", out, " 2>&1");
    const char* argv[] = {"/bin/sh", "-c", line.c_str(), nullptr};
    pid_t pid = -1;
    EXPECT_EQ(posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ), 0);
    launched.push_back({rank, pid, out});
  }
  return launched;
}

// All ranks 0..world-1.
inline std::vector<RankProcess> LaunchRanks(const std::string& command, int world) {
  std::vector<int> ranks;
  for (int r = 0; r < world; ++r) ranks.push_back(r);
  return LaunchRanks(command, world, ranks, FreePort());
}

// The exit code, or 128 + the signal that killed it.
inline int WaitExit(const RankProcess& rank) {
  int status = 0;
  waitpid(rank.pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

inline std::string Output(const RankProcess& rank) {
  std::ifstream in(rank.output);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Waits for every rank; true if all exited 0 (otherwise the failures' output is reported).
inline bool AllSucceed(const std::vector<RankProcess>& ranks) {
  bool ok = true;
  for (const RankProcess& rank : ranks) {
    const int code = WaitExit(rank);
    EXPECT_EQ(code, 0) << "rank " << rank.rank << ":\n" << Output(rank);
    ok &= code == 0;
  }
  return ok;
}

}  // namespace moe::worker::testing

#endif  // MOE_TESTS_TESTING_LAUNCH_RANKS_H_
