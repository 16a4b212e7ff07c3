// Process-wide logging set-up (spdlog). Call once from main.
#ifndef MOE_COMMON_LOGGING_H_
#define MOE_COMMON_LOGGING_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace moe::common {

// Sets the default spdlog logger to stderr with a uniform pattern and `level` (trace, debug,
// info, warn, error, off). Returns InvalidArgument for an unknown level.
absl::Status SetupLogging(absl::string_view level);

}  // namespace moe::common

#endif  // MOE_COMMON_LOGGING_H_
