// The table of training metrics: every name unique and well-formed where it goes, and values
// that travel by key come back as they went, unmeasured ones absent.
#include "common/step_metrics.h"

#include <map>
#include <regex>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace moe::common {
namespace {

TEST(StepMetrics, EveryKeySeriesAndTagIsUniqueAndFollowsItsConventions) {
  std::set<std::string> keys, series, tags;
  const std::regex key("[a-z][a-z0-9_]*");
  const std::regex prometheus("moe_[a-z][a-z0-9_]*");
  for (const StepMetricInfo& info : kStepMetrics) {
    const std::string name(info.key);
    EXPECT_TRUE(std::regex_match(name, key)) << name;
    EXPECT_TRUE(std::regex_match(std::string(info.prometheus), prometheus)) << info.prometheus;
    EXPECT_FALSE(info.help.empty()) << name;
    EXPECT_FALSE(info.tensorboard.empty()) << name;
    EXPECT_TRUE(keys.insert(name).second) << "key " << name << " twice";
    EXPECT_TRUE(series.insert(std::string(info.prometheus)).second) << info.prometheus;
    // A layer's tags live under moe/layer_<l>/, the run's under train/: unique within scope.
    const std::string tag =
        (info.scope == MetricScope::kLayer ? "layer/" : "") + std::string(info.tensorboard);
    EXPECT_TRUE(tags.insert(tag).second) << tag;
    if (info.scope == MetricScope::kRun) {
      EXPECT_TRUE(absl::StartsWith(info.tensorboard, "train/")) << info.tensorboard;
    }
    // Prometheus conventions: counters are not training metrics, histograms are in seconds.
    EXPECT_FALSE(absl::EndsWith(info.prometheus, "_total")) << info.prometheus;
    if (info.kind == MetricKind::kHistogram) {
      EXPECT_TRUE(absl::EndsWith(info.prometheus, "_seconds")) << info.prometheus;
      EXPECT_GT(info.bucket_start, 0);
      EXPECT_GT(info.bucket_factor, 1);
    }
  }
  EXPECT_FALSE(keys.count(std::string(kExpertShare.key)));
  EXPECT_FALSE(series.count(std::string(kExpertShare.prometheus)));
  // The original script's names are kept.
  EXPECT_EQ(kStepMetrics[kLoss].tensorboard, "train/loss");
  EXPECT_EQ(kStepMetrics[kLearningRate].tensorboard, "train/learning_rate");
}

TEST(StepMetrics, ValuesGoByKeyWithinTheirScopeAndComeBackAsTheyWent) {
  StepValues values;
  values[kLoss] = 2.5;
  values[kGradNorm] = 0;  // measured, and zero: not the same as absent
  values[kLabelLoss] = 0.7;
  std::map<std::string, double> run, layer;
  PutByKey(values, MetricScope::kRun, &run);
  PutByKey(values, MetricScope::kLayer, &layer);
  EXPECT_EQ(run, (std::map<std::string, double>{{"loss", 2.5}, {"grad_norm", 0}}));
  EXPECT_EQ(layer, (std::map<std::string, double>{{"label_loss", 0.7}}));
  EXPECT_EQ(FindByKey(run, kLoss), 2.5);
  EXPECT_EQ(FindByKey(run, kGradNorm), 0);
  EXPECT_EQ(FindByKey(run, kModelFlopsUtilization), std::nullopt);
  EXPECT_EQ(FindByKey(layer, kLabelLoss), 0.7);
  int visited = 0;
  ForEachValue(values, MetricScope::kRun, [&](const StepMetricInfo& info, double value) {
    EXPECT_EQ(info.scope, MetricScope::kRun);
    EXPECT_EQ(values[info.id], value);
    ++visited;
  });
  EXPECT_EQ(visited, 2);
}

}  // namespace
}  // namespace moe::common
