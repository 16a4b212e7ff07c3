// A job's plan: what one rank holds in device and host memory (common/memory_plan.h, the plan
// the trainer states at start) against the memory of the devices and nodes it would run on,
// with the verdict and, when it does not fit, the single changes to the spec that would (each
// planned again, not guessed), and the checkpoint's size on disk. What `moectl plan` and
// `moe-worker plan` print, what moed admits a job by, and what an out-of-memory hint names.
//
// A GPU job fits when one rank's device total fits a device and the host memory of a node
// (its ranks' host terms) fits the node. A CPU job's device is the host: its ranks' device and
// host terms together must fit the node.
#ifndef MOE_PLAN_JOB_PLAN_H_
#define MOE_PLAN_JOB_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/memory_plan.h"
#include "common/model_config.h"
#include "moe/v1/job.pb.h"
#include "nlohmann/json.hpp"

namespace moe::plan {

struct PlanOptions {
  int ranks = 0;             // 0: the spec's resources.world_size
  int64_t device_bytes = 0;  // memory of one GPU; 0: unknown (no verdict on it)
  int64_t host_bytes = 0;    // memory of one node; 0: unknown (no verdict on it)
  // A directory whose config.json stands for model.hf_path's (to plan before the weights are
  // downloaded, e.g. configs/models/mpt-7b); empty: model.hf_path's.
  std::string model_dir;
};

struct JobPlan {
  moe::v1::JobSpec spec;  // with the model's config resolved (vocab size, an HF config.json)
  int ranks = 1;
  common::ParameterCount parameters;
  common::MemoryPlan plan;  // one rank's
  bool cpu = false;         // resources.device: cpu (the device is the host)
  int ranks_per_node = 1;   // local launcher: all; Slurm: gpus_per_node (or ranks / nodes)
  int64_t device_bytes = 0, host_bytes = 0;
  uint64_t checkpoint_bytes = 0;  // on disk: the model in its precision, fp32 master and moments
  enum class Verdict { kUnknown, kFits, kTight, kDoesNotFit } verdict = Verdict::kUnknown;
  // What the verdict is about: "per GPU" or "per node", its need and its memory.
  std::string limit;
  int64_t need = 0, memory = 0;
  struct Change {
    std::string what;  // e.g. "resources.world_size: 8"
    common::MemoryPlan plan;
    int ranks = 1;  // the world size it plans for
  };
  std::vector<Change> fixes;  // single changes that fit (kTight, kDoesNotFit)
};

// Plans `spec` (loaded and validated). A config's vocab size comes from its tokenizer when
// unset; a model.hf_path's config from its config.json. kTight: within 5% of the memory.
absl::StatusOr<JobPlan> PlanJob(moe::v1::JobSpec spec, const PlanOptions& options);

std::string PlanText(const JobPlan& plan);
nlohmann::json PlanJson(const JobPlan& plan);

// One line for an error or an event: the need against the memory, the largest device term and
// the changes that fit, e.g. "needs 200.5 GB per GPU, which has 80 GB (the largest part:
// optimizer state (fp32), 117.2 GB); changes that fit: zero.offload_optimizer: cpu (47.3 GB),
// ...".
std::string PlanSummary(const JobPlan& plan);

// "80GiB", "80 GB", "141e9" (bytes), "512MiB"; InvalidArgument naming the text otherwise.
absl::StatusOr<int64_t> ParseBytes(absl::string_view text);

}  // namespace moe::plan

#endif  // MOE_PLAN_JOB_PLAN_H_
