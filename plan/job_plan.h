// A job's plan: what one rank holds in device memory (common/memory_plan.h, the plan the
// trainer states at start) against the memory of the devices it would run on, with the verdict
// and, when it does not fit, the single changes to the spec that would (each planned again, not
// guessed), and the checkpoint's size on disk. What `moectl plan` and `moe-worker plan` print.
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
  int64_t device_bytes = 0;  // memory of one device; 0: unknown (no verdict)
};

struct JobPlan {
  moe::v1::JobSpec spec;  // with the model's config resolved (vocab size, an HF config.json)
  int ranks = 1;
  common::ParameterCount parameters;
  common::MemoryPlan plan;  // one rank's
  int64_t device_bytes = 0;
  uint64_t checkpoint_bytes = 0;  // on disk: the model in its precision, fp32 master and moments
  enum class Verdict { kUnknown, kFits, kTight, kDoesNotFit } verdict = Verdict::kUnknown;
  struct Change {
    std::string what;  // e.g. "resources.world_size: 8"
    common::MemoryPlan plan;
  };
  std::vector<Change> fixes;  // single changes that fit (kTight, kDoesNotFit)
};

// Plans `spec` (loaded and validated). A config's vocab size comes from its tokenizer when
// unset; a model.hf_path's config from its config.json. kTight: within 5% of the memory.
absl::StatusOr<JobPlan> PlanJob(moe::v1::JobSpec spec, const PlanOptions& options);

std::string PlanText(const JobPlan& plan);
nlohmann::json PlanJson(const JobPlan& plan);

// "80GiB", "80 GB", "141e9" (bytes), "512MiB"; InvalidArgument naming the text otherwise.
absl::StatusOr<int64_t> ParseBytes(absl::string_view text);

}  // namespace moe::plan

#endif  // MOE_PLAN_JOB_PLAN_H_
