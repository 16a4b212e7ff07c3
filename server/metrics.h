// Every metric moed exports: the training metrics of common/step_metrics.h's table (one
// series per row), and moed's own, declared here. moed is the only Prometheus exporter: the
// workers report to it and it turns the reports into series (prometheus-cpp; the exposer is
// started by the Daemon on --metrics-listen, default 127.0.0.1:9464/metrics).
//
// Names follow Prometheus conventions: the moe_ prefix, base units (seconds, bytes, ratios),
// _total for counters. Labels: job (the job id), rank, layer, expert, state, cause, method,
// gpu — all bounded (nothing per step). The training series are those of the global batch as
// rank 0 reports it.
//
// Thread-safe (prometheus-cpp metrics are).
#ifndef MOE_SERVER_METRICS_H_
#define MOE_SERVER_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/step_metrics.h"
#include "moe/v1/service.pb.h"
#include "server/gpu_monitor.h"

namespace moe::server {

class CoordinatorMetrics {
 public:
  CoordinatorMetrics();

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  // A step report of job `job` (the newest step of the batch sets the gauges).
  void OnSteps(int64_t job, const std::vector<moe::v1::StepMetrics>& steps);
  void OnCheckpoint(int64_t job, const moe::v1::Checkpoint& checkpoint);
  // A checkpoint that could not be used: `kind` "save" (a save failed, training went on from
  // the previous one) or "damaged" (it failed verification when a resume tried it).
  void OnCheckpointFailed(int64_t job, const std::string& kind);
  // Seconds since job's newest committed checkpoint; call periodically.
  void SetCheckpointAge(int64_t job, double seconds);
  void OnAttemptEnded(moe::v1::AttemptCause cause);
  void OnRestart(moe::v1::AttemptCause cause);
  // Seconds from a resumed attempt's start to its first step report.
  void OnResumed(double seconds);
  void SetJobCounts(const std::map<moe::v1::JobState, int>& counts);
  void SetHeartbeatAge(int64_t job, int rank, double seconds);
  void ObserveRpc(const std::string& method, double seconds);
  // Whether moed can write its catalogue (1) or keeps reports in memory until it can (0), and
  // how many of them wait.
  void SetCatalogueWritable(bool writable, size_t backlog);
  void OnCatalogueWriteFailed();
  // A GPU's utilisation, memory, temperature and power (only where NVML sees GPUs).
  void SetGpu(const GpuReading& reading);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  // The series of common/step_metrics.h's table, by StepMetric: a gauge or a histogram each.
  std::array<prometheus::Family<prometheus::Gauge>*, common::kStepMetricCount> step_gauges_{};
  std::array<prometheus::Family<prometheus::Histogram>*, common::kStepMetricCount>
      step_histograms_{};
  prometheus::Family<prometheus::Gauge>& expert_share_;
  prometheus::Family<prometheus::Gauge>& global_step_;
  prometheus::Family<prometheus::Gauge>& total_steps_;
  prometheus::Family<prometheus::Gauge>& epoch_;
  prometheus::Family<prometheus::Histogram>& checkpoint_duration_;
  prometheus::Family<prometheus::Histogram>& checkpoint_stall_;
  prometheus::Family<prometheus::Gauge>& checkpoint_interval_;
  prometheus::Family<prometheus::Gauge>& checkpoint_bytes_;
  prometheus::Family<prometheus::Gauge>& checkpoint_last_success_;
  prometheus::Family<prometheus::Gauge>& checkpoint_age_;
  prometheus::Family<prometheus::Gauge>& checkpoint_step_;
  prometheus::Family<prometheus::Counter>& checkpoint_failures_;
  prometheus::Family<prometheus::Gauge>& jobs_;
  prometheus::Family<prometheus::Counter>& attempts_;
  prometheus::Family<prometheus::Counter>& restarts_;
  prometheus::Family<prometheus::Histogram>& resume_duration_;
  prometheus::Family<prometheus::Gauge>& heartbeat_age_;
  prometheus::Family<prometheus::Histogram>& rpc_duration_;
  prometheus::Family<prometheus::Gauge>& catalogue_writable_;
  prometheus::Family<prometheus::Gauge>& catalogue_backlog_;
  prometheus::Family<prometheus::Counter>& catalogue_write_failures_;
  prometheus::Family<prometheus::Gauge>& gpu_utilization_;
  prometheus::Family<prometheus::Gauge>& gpu_memory_used_;
  prometheus::Family<prometheus::Gauge>& gpu_memory_total_;
  prometheus::Family<prometheus::Gauge>& gpu_temperature_;
  prometheus::Family<prometheus::Gauge>& gpu_power_;
};

// "crashed" for ATTEMPT_CAUSE_CRASHED: the cause label's value.
std::string CauseLabel(moe::v1::AttemptCause cause);

}  // namespace moe::server

#endif  // MOE_SERVER_METRICS_H_
