#include "server/metrics.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace moe::server {
namespace {

using prometheus::Labels;

prometheus::Family<prometheus::Gauge>& Gauge(prometheus::Registry& registry,
                                             const std::string& name, const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
}

prometheus::Family<prometheus::Counter>& Counter(prometheus::Registry& registry,
                                                 const std::string& name, const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}

prometheus::Family<prometheus::Histogram>& Histogram(prometheus::Registry& registry,
                                                     const std::string& name,
                                                     const std::string& help) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(registry);
}

// Exponential buckets from `start`, `count` of them, each `factor` times the previous.
prometheus::Histogram::BucketBoundaries Exponential(double start, double factor, int count) {
  prometheus::Histogram::BucketBoundaries bounds;
  for (double b = start; count-- > 0; b *= factor) bounds.push_back(b);
  return bounds;
}

Labels Job(int64_t job) { return {{"job", std::to_string(job)}}; }

Labels Layer(int64_t job, int32_t layer) {
  return {{"job", std::to_string(job)}, {"layer", std::to_string(layer)}};
}

}  // namespace

std::string CauseLabel(moe::v1::AttemptCause cause) {
  return absl::AsciiStrToLower(
      absl::StripPrefix(moe::v1::AttemptCause_Name(cause), "ATTEMPT_CAUSE_"));
}

CoordinatorMetrics::CoordinatorMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      expert_share_(Gauge(*registry_, std::string(common::kExpertShare.prometheus),
                          std::string(common::kExpertShare.help))),
      global_step_(Gauge(*registry_, "moe_train_global_step", "Optimizer steps done")),
      total_steps_(Gauge(*registry_, "moe_train_total_steps", "Optimizer steps the job plans")),
      epoch_(Gauge(*registry_, "moe_train_epoch", "Epoch of the data position")),
      checkpoint_duration_(Histogram(*registry_, "moe_checkpoint_save_duration_seconds",
                                     "Time to write and commit a checkpoint, all ranks")),
      checkpoint_stall_(Histogram(*registry_, "moe_checkpoint_stall_seconds",
                                  "Time training waited for a checkpoint save: the whole save "
                                  "when synchronous, the host snapshot when asynchronous")),
      checkpoint_interval_(Gauge(*registry_, "moe_checkpoint_interval_steps",
                                 "Optimizer steps between periodic saves in use (0: epoch "
                                 "ends only)")),
      checkpoint_bytes_(Gauge(*registry_, "moe_checkpoint_bytes", "Size of the newest checkpoint")),
      checkpoint_last_success_(Gauge(*registry_, "moe_checkpoint_last_success_timestamp_seconds",
                                     "Unix time the newest checkpoint was committed")),
      checkpoint_age_(Gauge(*registry_, "moe_checkpoint_age_seconds",
                            "Seconds since the newest committed checkpoint")),
      checkpoint_step_(Gauge(*registry_, "moe_checkpoint_step", "Step of the newest checkpoint")),
      checkpoint_failures_(Counter(*registry_, "moe_checkpoint_failures_total",
                                   "Checkpoints that failed to save, or failed verification "
                                   "when a resume tried them (kind: save, damaged)")),
      jobs_(Gauge(*registry_, "moe_jobs", "Jobs in the catalogue by state")),
      attempts_(Counter(*registry_, "moe_attempts_total", "Attempts that ended, by cause")),
      restarts_(Counter(*registry_, "moe_job_restarts_total",
                        "Automatic restarts after a failed attempt, by cause")),
      resume_duration_(Histogram(*registry_, "moe_resume_duration_seconds",
                                 "From a resumed attempt's start to its first step report")),
      heartbeat_age_(Gauge(*registry_, "moe_worker_heartbeat_age_seconds",
                           "Seconds since a worker's last heartbeat or report")),
      rpc_duration_(Histogram(*registry_, "moe_rpc_duration_seconds",
                              "Time moed spends handling a gRPC call, by method")),
      catalogue_writable_(Gauge(*registry_, "moe_catalogue_writable",
                                "1 while moed can write its catalogue (moed.db), 0 while it "
                                "keeps reports in memory (disk full, I/O error)")),
      catalogue_backlog_(Gauge(*registry_, "moe_catalogue_backlog",
                               "Reports, events and attempt ends waiting for the catalogue")),
      catalogue_write_failures_(Counter(*registry_, "moe_catalogue_write_failures_total",
                                        "Catalogue writes that failed")),
      gpu_utilization_(Gauge(*registry_, "moe_gpu_utilization_ratio",
                             "Fraction of the last sample period a kernel ran (NVML)")),
      gpu_memory_used_(Gauge(*registry_, "moe_gpu_memory_used_bytes", "GPU memory in use")),
      gpu_memory_total_(Gauge(*registry_, "moe_gpu_memory_total_bytes", "GPU memory in all")),
      gpu_temperature_(Gauge(*registry_, "moe_gpu_temperature_celsius", "GPU die temperature")),
      gpu_power_(Gauge(*registry_, "moe_gpu_power_watts", "GPU power draw")) {
  for (const common::StepMetricInfo& info : common::kStepMetrics) {
    const std::string name(info.prometheus), help(info.help);
    if (info.kind == common::MetricKind::kHistogram) {
      step_histograms_[info.id] = &Histogram(*registry_, name, help);
    } else {
      step_gauges_[info.id] = &Gauge(*registry_, name, help);
    }
  }
  // Series that exist before their first event, so dashboards and alerts see zeros, not gaps.
  for (int c = moe::v1::ATTEMPT_CAUSE_COMPLETED; c <= moe::v1::AttemptCause_MAX; ++c) {
    const Labels cause = {{"cause", CauseLabel(static_cast<moe::v1::AttemptCause>(c))}};
    attempts_.Add(cause);
    restarts_.Add(cause);
  }
  resume_duration_.Add({}, Exponential(0.25, 2, 12));
}

void CoordinatorMetrics::OnSteps(int64_t job, const std::vector<moe::v1::StepMetrics>& steps) {
  if (steps.empty()) return;
  const moe::v1::StepMetrics& s = steps.back();
  const Labels labels = Job(job);
  global_step_.Add(labels).Set(static_cast<double>(s.step()));
  total_steps_.Add(labels).Set(static_cast<double>(s.total_steps()));
  epoch_.Add(labels).Set(static_cast<double>(s.epoch()));
  // Gauges: the newest step's value. Histograms: every step's.
  for (const common::StepMetricInfo& info : common::kStepMetrics) {
    if (info.scope != common::MetricScope::kRun) continue;
    if (info.kind == common::MetricKind::kGauge) {
      if (const auto value = common::FindByKey(s.values(), info.id)) {
        step_gauges_[info.id]->Add(labels).Set(*value);
      }
      continue;
    }
    for (const moe::v1::StepMetrics& step : steps) {
      if (const auto value = common::FindByKey(step.values(), info.id)) {
        step_histograms_[info.id]
            ->Add(labels, Exponential(info.bucket_start, info.bucket_factor, info.bucket_count))
            .Observe(*value);
      }
    }
  }
  for (const moe::v1::LayerMetrics& layer : s.layers()) {
    const Labels by_layer = Layer(job, layer.layer());
    for (int e = 0; e < layer.expert_share_size(); ++e) {
      Labels by_expert = by_layer;
      by_expert["expert"] = std::to_string(e);
      expert_share_.Add(by_expert).Set(layer.expert_share(e));
    }
    for (const common::StepMetricInfo& info : common::kStepMetrics) {
      if (info.scope != common::MetricScope::kLayer) continue;
      if (const auto value = common::FindByKey(layer.values(), info.id)) {
        step_gauges_[info.id]->Add(by_layer).Set(*value);
      }
    }
  }
}

void CoordinatorMetrics::OnCheckpoint(int64_t job, const moe::v1::Checkpoint& checkpoint) {
  const Labels labels = Job(job);
  if (checkpoint.save_seconds() > 0) {
    checkpoint_duration_.Add(labels, Exponential(0.05, 2, 14)).Observe(checkpoint.save_seconds());
  }
  if (checkpoint.stall_seconds() > 0) {
    checkpoint_stall_.Add(labels, Exponential(0.001, 2, 20)).Observe(checkpoint.stall_seconds());
  }
  checkpoint_interval_.Add(labels).Set(static_cast<double>(checkpoint.interval_steps()));
  checkpoint_bytes_.Add(labels).Set(static_cast<double>(checkpoint.bytes()));
  checkpoint_last_success_.Add(labels).Set(checkpoint.committed_unix_s());
  checkpoint_step_.Add(labels).Set(static_cast<double>(checkpoint.step()));
  checkpoint_age_.Add(labels).Set(0);
}

void CoordinatorMetrics::OnCheckpointFailed(int64_t job, const std::string& kind) {
  Labels labels = Job(job);
  labels["kind"] = kind;
  checkpoint_failures_.Add(labels).Increment();
}

void CoordinatorMetrics::SetCheckpointAge(int64_t job, double seconds) {
  checkpoint_age_.Add(Job(job)).Set(seconds);
}

void CoordinatorMetrics::SetCatalogueWritable(bool writable, size_t backlog) {
  catalogue_writable_.Add({}).Set(writable ? 1 : 0);
  catalogue_backlog_.Add({}).Set(static_cast<double>(backlog));
}

void CoordinatorMetrics::OnCatalogueWriteFailed() { catalogue_write_failures_.Add({}).Increment(); }

void CoordinatorMetrics::OnAttemptEnded(moe::v1::AttemptCause cause) {
  attempts_.Add({{"cause", CauseLabel(cause)}}).Increment();
}

void CoordinatorMetrics::OnRestart(moe::v1::AttemptCause cause) {
  restarts_.Add({{"cause", CauseLabel(cause)}}).Increment();
}

void CoordinatorMetrics::OnResumed(double seconds) {
  resume_duration_.Add({}, Exponential(0.25, 2, 12)).Observe(seconds);
}

void CoordinatorMetrics::SetJobCounts(const std::map<moe::v1::JobState, int>& counts) {
  for (int s = moe::v1::JOB_STATE_QUEUED; s <= moe::v1::JOB_STATE_INTERRUPTED; ++s) {
    const auto state = static_cast<moe::v1::JobState>(s);
    const auto it = counts.find(state);
    jobs_
        .Add({{"state", absl::AsciiStrToLower(
                            absl::StripPrefix(moe::v1::JobState_Name(state), "JOB_STATE_"))}})
        .Set(it == counts.end() ? 0 : it->second);
  }
}

void CoordinatorMetrics::SetHeartbeatAge(int64_t job, int rank, double seconds) {
  heartbeat_age_.Add({{"job", std::to_string(job)}, {"rank", std::to_string(rank)}}).Set(seconds);
}

void CoordinatorMetrics::SetGpu(const GpuReading& r) {
  const Labels gpu = {{"gpu", std::to_string(r.index)}};
  gpu_utilization_.Add(gpu).Set(r.utilization);
  gpu_memory_used_.Add(gpu).Set(static_cast<double>(r.memory_used_bytes));
  gpu_memory_total_.Add(gpu).Set(static_cast<double>(r.memory_total_bytes));
  gpu_temperature_.Add(gpu).Set(r.temperature_celsius);
  gpu_power_.Add(gpu).Set(r.power_watts);
}

void CoordinatorMetrics::ObserveRpc(const std::string& method, double seconds) {
  rpc_duration_.Add({{"method", method}}, Exponential(1e-5, 4, 10)).Observe(seconds);
}

}  // namespace moe::server
