// Every training metric a step report carries, declared once. A row names the metric
// everywhere it goes: its key (JSON lines, the report RPC's `values` map, the catalogue's
// steps.metrics), its Prometheus series and help (moed's exporter), its labels (by scope), its
// TensorBoard tag. The trainer computes values into a StepValues; the progress sinks, the
// report RPC, the catalogue and moed's exporter iterate kStepMetrics and never name a metric.
//
// Adding a per-step metric: one enumerator, one row, and the code that computes it.
//
// Besides the table, a report carries its position (step, total steps, epoch: progress, not
// metrics) and the expert shares, a distribution per expert (kExpertShare names it).
#ifndef MOE_COMMON_STEP_METRICS_H_
#define MOE_COMMON_STEP_METRICS_H_

#include <array>
#include <cstddef>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace moe::common {

// Labels of a series: kRun {job}; kLayer {job, layer} (a MoE layer's block index).
enum class MetricScope { kRun, kLayer };

// kGauge: set from the newest step of each report. kHistogram: every reported step observed,
// in exponential buckets from `bucket_start`, each `bucket_factor` times the previous.
enum class MetricKind { kGauge, kHistogram };

enum StepMetric : int {
  kLoss,
  kAuxLoss,
  kLearningRate,
  kGradNorm,
  kTokensPerSecond,
  kSamplesPerSecond,
  kStepSeconds,
  kModelFlopsPerSecond,
  kModelFlopsUtilization,
  kDroppedFraction,
  kLoadBalanceLoss,
  kZLoss,
  kLabelLoss,
  kRouterEntropy,
  kStepMetricCount
};

struct StepMetricInfo {
  StepMetric id;
  MetricScope scope;
  absl::string_view key;          // JSON key, report and catalogue key
  absl::string_view prometheus;   // series name
  absl::string_view help;         // Prometheus help
  absl::string_view tensorboard;  // tag; under moe/layer_<l>/ for a layer's metric
  MetricKind kind = MetricKind::kGauge;
  double bucket_start = 0, bucket_factor = 0;  // kHistogram
  int bucket_count = 0;
};

inline constexpr std::array<StepMetricInfo, kStepMetricCount> kStepMetrics = {{
    {kLoss, MetricScope::kRun, "loss", "moe_train_loss",
     "Token-mean cross-entropy of the answer tokens since the previous report", "train/loss"},
    {kAuxLoss, MetricScope::kRun, "aux_loss", "moe_train_aux_loss",
     "Weighted MoE auxiliary loss, mean over micro-batches", "train/aux_loss"},
    {kLearningRate, MetricScope::kRun, "learning_rate", "moe_train_learning_rate",
     "Learning rate of the step", "train/learning_rate"},
    {kGradNorm, MetricScope::kRun, "grad_norm", "moe_train_grad_norm",
     "Global gradient norm before clipping", "train/grad_norm"},
    {kTokensPerSecond, MetricScope::kRun, "tokens_per_second", "moe_train_tokens_per_second",
     "Non-padding tokens trained per second, all ranks", "train/tokens_per_second"},
    {kSamplesPerSecond, MetricScope::kRun, "samples_per_second", "moe_train_samples_per_second",
     "Samples trained per second, all ranks", "train/samples_per_second"},
    {kStepSeconds, MetricScope::kRun, "step_seconds", "moe_train_step_duration_seconds",
     "Wall time of an optimizer step (mean over each report)", "train/step_seconds",
     MetricKind::kHistogram, 0.01, 2, 16},
    {kModelFlopsPerSecond, MetricScope::kRun, "model_flops_per_second",
     "moe_train_model_flops_per_second",
     "Model FLOPs per second: (6 N_active + 12 L d T) per token x tokens/s",
     "train/model_flops_per_second"},
    {kModelFlopsUtilization, MetricScope::kRun, "model_flops_utilization",
     "moe_train_model_flops_utilization_ratio",
     "Model FLOPs per second over the devices' peak (when the peak is known)",
     "train/model_flops_utilization"},
    {kDroppedFraction, MetricScope::kLayer, "dropped_fraction", "moe_expert_dropped_token_ratio",
     "Fraction of a MoE layer's token assignments dropped for capacity", "dropped_fraction"},
    {kLoadBalanceLoss, MetricScope::kLayer, "load_balance_loss", "moe_router_load_balance_loss",
     "Switch load-balancing loss of a MoE layer (1 when balanced)", "load_balance_loss"},
    {kZLoss, MetricScope::kLayer, "z_loss", "moe_router_z_loss", "Router z-loss of a MoE layer",
     "z_loss"},
    {kLabelLoss, MetricScope::kLayer, "label_loss", "moe_router_label_loss",
     "Router cross-entropy against the samples' expert labels (label_guided and label_forced "
     "routing; 0 otherwise)",
     "label_loss"},
    {kRouterEntropy, MetricScope::kLayer, "router_entropy", "moe_router_entropy_nats",
     "Mean entropy of a MoE layer's router distribution", "router_entropy"},
}};

// The per-expert distribution: the whole model's in a step report, each layer's in its layer
// report. Labels {job, layer, expert}; the TensorBoard tag is moe/layer_<l>/expert_<e>_share.
struct ExpertShareInfo {
  absl::string_view key = "expert_share";
  absl::string_view prometheus = "moe_expert_token_share";
  absl::string_view help = "Fraction of a MoE layer's routed tokens each expert processed";
};
inline constexpr ExpertShareInfo kExpertShare;

// A report's values, indexed by StepMetric; a value not measured (e.g. the FLOPs utilisation
// when the devices' peak is unknown, a layer metric at run scope) is empty.
using StepValues = std::array<std::optional<double>, kStepMetricCount>;

// Row i declares metric i; a layer's metrics are gauges (a histogram per layer would multiply
// buckets by layers).
constexpr bool RowsWellFormed() {
  for (size_t i = 0; i < kStepMetrics.size(); ++i) {
    const StepMetricInfo& info = kStepMetrics[i];
    if (info.id != static_cast<StepMetric>(i)) return false;
    if (info.scope == MetricScope::kLayer && info.kind != MetricKind::kGauge) return false;
    if (info.kind == MetricKind::kHistogram && info.bucket_count <= 0) return false;
  }
  return true;
}
static_assert(RowsWellFormed(), "kStepMetrics: row i declares StepMetric i; layer rows are gauges");

// Calls fn(info, value) for each measured value of `scope`, in table order.
template <typename Fn>
void ForEachValue(const StepValues& values, MetricScope scope, Fn&& fn) {
  for (const StepMetricInfo& info : kStepMetrics) {
    if (info.scope == scope && values[info.id]) fn(info, *values[info.id]);
  }
}

// Copies the measured values of `scope` into `out` by key (a std::map, a protobuf Map, JSON).
template <typename Map>
void PutByKey(const StepValues& values, MetricScope scope, Map* out) {
  ForEachValue(values, scope, [out](const StepMetricInfo& info, double value) {
    (*out)[std::string(info.key)] = value;
  });
}

// `metric`'s value in a map by key; empty when it was not reported.
template <typename Map>
std::optional<double> FindByKey(const Map& by_key, StepMetric metric) {
  const auto it = by_key.find(std::string(kStepMetrics[metric].key));
  if (it == by_key.end()) return std::nullopt;
  return it->second;
}

}  // namespace moe::common

#endif  // MOE_COMMON_STEP_METRICS_H_
