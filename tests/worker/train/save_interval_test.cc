// The Young/Daly save interval: Daly's formula against its known limits and Young's first-order
// optimum, its expected-loss optimality, and SaveInterval following its measurements.
#include "worker/train/save_interval.h"

#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace moe::worker {
namespace {

using ::testing::HasSubstr;

// Expected fraction of time lost with saves costing `delta` every `tau` seconds of work and
// exponentially distributed interruptions of mean `m`: Daly's (2006) exact expected wall time
// per unit of work, with no restart cost, m (e^((tau + delta) / m) - 1) / tau, less the work.
double ExpectedLoss(double tau, double delta, double m) {
  return m * (std::exp((tau + delta) / m) - 1) / tau - 1;
}

TEST(DalyInterval, IsYoungsForCheapSavesAndTheMeanTimeForDearOnes) {
  const double m = 7200;
  for (double delta : {0.01, 0.1, 1.0}) {
    const double young = std::sqrt(2 * delta * m);
    EXPECT_NEAR(DalyIntervalSeconds(delta, m), young, 0.01 * young) << delta;
  }
  EXPECT_DOUBLE_EQ(DalyIntervalSeconds(2 * m, m), m);
  EXPECT_DOUBLE_EQ(DalyIntervalSeconds(5 * m, m), m);
}

TEST(DalyInterval, MinimisesTheExpectedLoss) {
  // Daly's interval is (to its second-order accuracy) the minimum of the exact expected loss:
  // 20% shorter or longer loses more.
  for (const auto& [delta, m] : {std::pair{5.0, 3600.0}, {60.0, 1800.0}, {300.0, 7200.0}}) {
    const double tau = DalyIntervalSeconds(delta, m);
    const double best = ExpectedLoss(tau, delta, m);
    EXPECT_LT(best, ExpectedLoss(0.8 * tau, delta, m)) << delta << " " << m;
    EXPECT_LT(best, ExpectedLoss(1.2 * tau, delta, m)) << delta << " " << m;
  }
}

TEST(DalyInterval, GrowsWithTheSaveCostAndTheMeanTime) {
  EXPECT_LT(DalyIntervalSeconds(1, 3600), DalyIntervalSeconds(4, 3600));
  EXPECT_LT(DalyIntervalSeconds(1, 1800), DalyIntervalSeconds(1, 7200));
}

TEST(SaveInterval, NeedsAStepAndASaveThenFollowsThem) {
  SaveInterval interval(/*mtbi_s=*/2 * 3600);
  EXPECT_EQ(interval.steps(), 0);
  EXPECT_THAT(interval.Why(), HasSubstr("due to measure"));
  interval.ObserveStep(0.5);
  EXPECT_EQ(interval.steps(), 0);  // no save measured yet
  interval.ObserveSave(2.0);
  const int64_t first = std::llround(DalyIntervalSeconds(2.0, 7200) / 0.5);
  EXPECT_EQ(interval.steps(), first);
  EXPECT_THAT(interval.Why(), HasSubstr("Young/Daly"));
  EXPECT_THAT(interval.Why(), HasSubstr("2h"));
  // Saves get 8x slower: the average moves a third of the way each time, and the interval
  // grows towards sqrt(8) times the first.
  for (int i = 0; i < 30; ++i) interval.ObserveSave(16.0);
  EXPECT_NEAR(interval.steps(), std::llround(DalyIntervalSeconds(16.0, 7200) / 0.5), 1);
  EXPECT_GT(interval.steps(), 2.5 * first);
  // Values that are not measurements are ignored; the interval is at least a step.
  interval.ObserveSave(0);
  interval.ObserveStep(-1);
  EXPECT_NEAR(interval.steps(), std::llround(DalyIntervalSeconds(16.0, 7200) / 0.5), 1);
  SaveInterval tiny(1.0);
  tiny.ObserveStep(100);
  tiny.ObserveSave(0.001);
  EXPECT_EQ(tiny.steps(), 1);
}

}  // namespace
}  // namespace moe::worker
