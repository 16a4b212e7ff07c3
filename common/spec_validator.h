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

// Returns every problem in `spec`, in field order; empty when the spec is valid. Checks that
// named input files exist (train_file, tokenizer, hf_path) but reads none of them.
std::vector<SpecProblem> FindSpecProblems(const moe::v1::JobSpec& spec);

// OK, or InvalidArgument whose message lists FindSpecProblems one per line as
// "path: message".
absl::Status ValidateJobSpec(const moe::v1::JobSpec& spec);

// The largest spec moed takes, encoded; CheckSpecSize says so in words (InvalidArgument). moectl
// checks before sending, moed again for other clients.
inline constexpr size_t kMaxSpecBytes = 1 << 20;
absl::Status CheckSpecSize(const moe::v1::JobSpec& spec);

}  // namespace moe::common

#endif  // MOE_COMMON_SPEC_VALIDATOR_H_
