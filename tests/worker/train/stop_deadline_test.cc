#include "worker/train/stop_deadline.h"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "gtest/gtest.h"

namespace moe::worker {
namespace {

using Clock = std::chrono::steady_clock;

TEST(StopDeadline, ExpiresTheGracePeriodAfterTheRequest) {
  std::atomic<bool> requested{false};
  std::atomic<bool> expired{false};
  Clock::time_point asked, fired;
  StopDeadline deadline(requested, 0.3, [&] {
    fired = Clock::now();
    expired = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_FALSE(expired) << "no request, no deadline";
  asked = Clock::now();
  requested = true;
  for (int i = 0; i < 200 && !expired; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(expired);
  const double after = std::chrono::duration<double>(fired - asked).count();
  EXPECT_GE(after, 0.3);
  EXPECT_LT(after, 1.0);
}

TEST(StopDeadline, AProcessThatFinishesInTimeIsNotCutShort) {
  std::atomic<bool> requested{true};
  std::atomic<bool> expired{false};
  {
    StopDeadline deadline(requested, 0.5, [&] { expired = true; });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }  // the checkpoint committed and the process is exiting
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  EXPECT_FALSE(expired);
}

TEST(StopDeadline, NoGraceMeansNoDeadline) {
  std::atomic<bool> requested{true};
  std::atomic<bool> expired{false};
  StopDeadline deadline(requested, 0, [&] { expired = true; });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(expired);
}

TEST(StopDeadline, GraceFromTheEnvironment) {
  unsetenv("MOE_STOP_GRACE_S");
  EXPECT_EQ(*StopGraceFromEnvironment(), 0.0);
  setenv("MOE_STOP_GRACE_S", "25.5", 1);
  EXPECT_EQ(*StopGraceFromEnvironment(), 25.5);
  setenv("MOE_STOP_GRACE_S", "soon", 1);
  const auto bad = StopGraceFromEnvironment();
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(bad.status().message()).find("MOE_STOP_GRACE_S='soon'"), std::string::npos);
  unsetenv("MOE_STOP_GRACE_S");
}

}  // namespace
}  // namespace moe::worker
