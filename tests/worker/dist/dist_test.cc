// Collectives across real processes on loopback: each collective on 1, 2 and 3 ranks, and a
// clear error (not a hang) when a rank never arrives.
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/dist/launch_env.h"

extern char** environ;

namespace moe::worker {
namespace {

// A TCP port that was free a moment ago.
int FreePort() {
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

struct Rank {
  pid_t pid;
  std::string output;  // file with its stdout
};

// Starts one dist_worker per rank in `ranks` of a job of `world` ranks.
std::vector<Rank> Launch(const std::vector<int>& ranks, int world, int port, int timeout_ms) {
  std::vector<Rank> launched;
  for (int rank : ranks) {
    const std::string out = absl::StrCat(::testing::TempDir(), "moe_dist_", getpid(), "_", rank);
    const std::string command =
        absl::StrCat("RANK=", rank, " LOCAL_RANK=", rank, " WORLD_SIZE=", world,
                     " MASTER_ADDR=127.0.0.1 MASTER_PORT=", port, " exec ", DIST_WORKER_BIN, " ",
                     timeout_ms, " > ", out, " 2>&1");
    const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
    pid_t pid;
    EXPECT_EQ(posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ), 0);
    launched.push_back({pid, out});
  }
  return launched;
}

int Wait(const Rank& rank) {
  int status = 0;
  waitpid(rank.pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string Output(const Rank& rank) {
  std::string text;
  if (FILE* f = fopen(rank.output.c_str(), "r")) {
    std::array<char, 4096> buffer;
    while (size_t n = fread(buffer.data(), 1, buffer.size(), f)) text.append(buffer.data(), n);
    fclose(f);
  }
  return text;
}

class Collectives : public ::testing::TestWithParam<int> {};

TEST_P(Collectives, GiveTheExpectedValuesOnEveryRank) {
  const int world = GetParam();
  std::vector<int> ranks;
  for (int r = 0; r < world; ++r) ranks.push_back(r);
  for (const Rank& rank : Launch(ranks, world, FreePort(), 60000)) {
    EXPECT_EQ(Wait(rank), 0) << Output(rank);
  }
}

INSTANTIATE_TEST_SUITE_P(WorldSizes, Collectives, ::testing::Values(1, 2, 3));

TEST(Rendezvous, AMissingRankIsAClearErrorNotAHang) {
  // World of 3, only ranks 0 and 1 start: both must give up after the timeout.
  const auto start = std::chrono::steady_clock::now();
  for (const Rank& rank : Launch({0, 1}, 3, FreePort(), 3000)) {
    EXPECT_EQ(Wait(rank), 3) << Output(rank);
    EXPECT_THAT(Output(rank), ::testing::AnyOf(::testing::HasSubstr("DEADLINE_EXCEEDED"),
                                               ::testing::HasSubstr("UNAVAILABLE")));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
}

TEST(LaunchEnv, ReadsTorchrunVariablesAndNamesBadOnes) {
  unsetenv("WORLD_SIZE");
  auto single = LaunchEnvFromEnvironment();
  ASSERT_TRUE(single.ok());
  EXPECT_EQ(single->world_size, 1);
  setenv("WORLD_SIZE", "4", 1);
  setenv("RANK", "2", 1);
  setenv("LOCAL_RANK", "1", 1);
  setenv("MASTER_ADDR", "10.0.0.7", 1);
  setenv("MASTER_PORT", "1234", 1);
  auto env = LaunchEnvFromEnvironment();
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->rank, 2);
  EXPECT_EQ(env->local_rank, 1);
  EXPECT_EQ(env->master_addr, "10.0.0.7");
  EXPECT_EQ(env->master_port, 1234);
  setenv("RANK", "4", 1);
  EXPECT_THAT(std::string(LaunchEnvFromEnvironment().status().message()),
              ::testing::HasSubstr("RANK='4'"));
  setenv("RANK", "1", 1);
  setenv("MASTER_PORT", "http", 1);
  EXPECT_THAT(std::string(LaunchEnvFromEnvironment().status().message()),
              ::testing::HasSubstr("MASTER_PORT='http'"));
  for (const char* v : {"WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"})
    unsetenv(v);
}

}  // namespace
}  // namespace moe::worker
