// Semantic checks of a JobSpec (after defaults): every problem, each with its field path and
// a hint, so a user fixes a spec in one round.
#ifndef MOE_COMMON_SPEC_VALIDATOR_H_
#define MOE_COMMON_SPEC_VALIDATOR_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "moe/v1/job.pb.h"

namespace moe::common {

struct SpecProblem {
  std::string path;     // e.g. "training.micro_batch_size"
  std::string message;  // e.g. "must be > 0"
};

// Whether the spec's input files (train_file, tokenizer, hf_path, resume_from) must exist here:
// yes to run it; not to plan it on another machine than the one it will run on.
enum class SpecFiles { kMustExist, kMayBeElsewhere };

// Returns every problem in `spec`, in field order; empty when the spec is valid. Checks that
// named input files exist (unless kMayBeElsewhere) but reads none of them.
std::vector<SpecProblem> FindSpecProblems(const moe::v1::JobSpec& spec,
                                          SpecFiles files = SpecFiles::kMustExist);

// OK, or InvalidArgument whose message lists FindSpecProblems one per line as
// "path: message".
absl::Status ValidateJobSpec(const moe::v1::JobSpec& spec, SpecFiles files = SpecFiles::kMustExist);

// The largest spec moed takes, encoded; CheckSpecSize says so in words (InvalidArgument). moectl
// checks before sending, moed again for other clients.
inline constexpr size_t kMaxSpecBytes = 1 << 20;
absl::Status CheckSpecSize(const moe::v1::JobSpec& spec);

}  // namespace moe::common

#endif  // MOE_COMMON_SPEC_VALIDATOR_H_
