// Collectives across real processes on loopback: each collective on 1, 2 and 3 ranks, and a
// clear error (not a hang) when a rank never arrives.
#include <chrono>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/launch_ranks.h"
#include "worker/parallel/launch_env.h"

namespace moe::worker {
namespace {

using testing::LaunchRanks;
using testing::Output;
using testing::WaitExit;

// One parallel_worker per rank in `ranks` of a job of `world` ranks.
std::vector<testing::RankProcess> Launch(const std::vector<int>& ranks, int world, int timeout_s) {
  return LaunchRanks(PARALLEL_WORKER_BIN, world, ranks, testing::FreePort(), timeout_s);
}

class Collectives : public ::testing::TestWithParam<int> {};

TEST_P(Collectives, GiveTheExpectedValuesOnEveryRank) {
  const int world = GetParam();
  std::vector<int> ranks;
  for (int r = 0; r < world; ++r) ranks.push_back(r);
  EXPECT_TRUE(testing::AllSucceed(Launch(ranks, world, 60)));
}

INSTANTIATE_TEST_SUITE_P(WorldSizes, Collectives, ::testing::Values(1, 2, 3));

TEST(Rendezvous, AMissingRankIsAClearErrorNotAHang) {
  // World of 3, only ranks 0 and 1 start: both must give up after the timeout.
  const auto start = std::chrono::steady_clock::now();
  for (const testing::RankProcess& rank : Launch({0, 1}, 3, 3)) {
    EXPECT_EQ(WaitExit(rank), 3) << Output(rank);
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
  EXPECT_EQ(env->timeout, std::chrono::minutes(5));
  setenv("MOE_DIST_TIMEOUT_S", "7", 1);
  EXPECT_EQ(LaunchEnvFromEnvironment()->timeout, std::chrono::seconds(7));
  setenv("MOE_DIST_TIMEOUT_S", "0", 1);
  EXPECT_THAT(std::string(LaunchEnvFromEnvironment().status().message()),
              ::testing::HasSubstr("MOE_DIST_TIMEOUT_S='0'"));
  unsetenv("MOE_DIST_TIMEOUT_S");
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
