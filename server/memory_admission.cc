#include "server/memory_admission.h"

#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "plan/job_plan.h"
#include "spdlog/spdlog.h"

namespace moe::server {
namespace {

// `spec` with resources.device set: unset runs on GPUs where there are some.
moe::v1::JobSpec WithDevice(moe::v1::JobSpec spec, const MemoryLimits& limits, bool slurm) {
  if (spec.resources().device() == moe::v1::DEVICE_UNSPECIFIED) {
    const bool gpus = slurm ? spec.resources().slurm().gpus_per_node() > 0 : limits.gpu_bytes > 0;
    spec.mutable_resources()->set_device(gpus ? moe::v1::DEVICE_CUDA : moe::v1::DEVICE_CPU);
  }
  return spec;
}

}  // namespace

absl::StatusOr<std::optional<std::string>> AdmitByMemory(const moe::v1::JobSpec& submitted,
                                                         const MachineMemory& memory, bool slurm) {
  const MemoryLimits& limits = slurm ? memory.slurm : memory.local;
  if (limits.gpu_bytes <= 0 && limits.host_bytes <= 0) return std::nullopt;
  const moe::v1::JobSpec spec = WithDevice(submitted, limits, slurm);
  plan::PlanOptions options;
  options.device_bytes = limits.gpu_bytes;
  options.host_bytes = limits.host_bytes;
  const absl::StatusOr<plan::JobPlan> plan = plan::PlanJob(spec, options);
  if (!plan.ok()) {
    spdlog::warn("moed: job '{}' admitted unplanned: {}", spec.name(), plan.status().ToString());
    return std::nullopt;
  }
  switch (plan->verdict) {
    case plan::JobPlan::Verdict::kDoesNotFit:
      return absl::InvalidArgumentError(
          absl::StrCat("job '", spec.name(), "' does not fit in memory: ", plan::PlanSummary(*plan),
                       " (moectl plan shows the whole plan)"));
    case plan::JobPlan::Verdict::kTight:
      return absl::StrCat("memory is tight, within 5%: ", plan::PlanSummary(*plan));
    default:
      return std::nullopt;
  }
}

std::string OutOfMemoryAdvice(const moe::v1::JobSpec& submitted, const MachineMemory& memory,
                              bool slurm) {
  const MemoryLimits& limits = slurm ? memory.slurm : memory.local;
  const moe::v1::JobSpec spec = WithDevice(submitted, limits, slurm);
  const bool cpu = spec.resources().device() == moe::v1::DEVICE_CPU;
  const absl::StatusOr<plan::JobPlan> unbounded = plan::PlanJob(spec, {});
  if (!unbounded.ok()) return "";
  // What the run had: its memory where known, else what the plan needs; then a sixth off.
  plan::PlanOptions options;
  const int64_t need = cpu ? unbounded->ranks_per_node * unbounded->plan.total() +
                                 unbounded->plan.HostPerNode(unbounded->ranks_per_node)
                           : unbounded->plan.total();
  const int64_t had = cpu ? limits.host_bytes : limits.gpu_bytes;
  const int64_t target = (had > 0 ? std::min(had, need) : need) * 5 / 6;
  (cpu ? options.host_bytes : options.device_bytes) = target;
  const absl::StatusOr<plan::JobPlan> plan = plan::PlanJob(spec, options);
  if (!plan.ok()) return "";
  const auto [term, bytes] = plan->plan.LargestDeviceTerm();
  std::string advice =
      absl::StrFormat("the memory plan's largest term is %s, %.4g GB of %.4g GB %s", term,
                      bytes / 1e9, plan->need / 1e9, plan->limit);
  if (plan->fixes.empty()) {
    absl::StrAppend(&advice, "; no single change leaves a sixth free (moectl plan shows more)");
  }
  for (size_t i = 0; i < plan->fixes.size(); ++i) {
    absl::StrAppend(&advice, i == 0 ? "; changes that leave a sixth free: " : "; ",
                    plan->fixes[i].what);
  }
  return advice;
}

int64_t PhysicalMemoryBytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<int64_t>(pages) * page : 0;
}

}  // namespace moe::server
