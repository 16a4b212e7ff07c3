// The one place where JobSpec defaults live (the proto's comments document them).
#ifndef MOE_COMMON_SPEC_DEFAULTS_H_
#define MOE_COMMON_SPEC_DEFAULTS_H_

#include "moe/v1/job.pb.h"

namespace moe::common {

inline constexpr char kDefaultPromptTemplate[] = "Question: {question}\nAnswer: {answer}";

// Fills every unset field that has a default. Idempotent; never overrides a set field.
void ApplyDefaults(moe::v1::JobSpec* spec);

}  // namespace moe::common

#endif  // MOE_COMMON_SPEC_DEFAULTS_H_
