// Process-wide logging set-up (spdlog). Call once from main.
#ifndef MOE_COMMON_LOGGING_H_
#define MOE_COMMON_LOGGING_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "spdlog/spdlog.h"

namespace moe::common {

// Sets the default spdlog logger to stderr with a uniform pattern and `level` (trace, debug,
// info, warn, error, off). Returns InvalidArgument for an unknown level.
absl::Status SetupLogging(absl::string_view level);

}  // namespace moe::common

// Lets spdlog/fmt print absl::string_view (a distinct type in Debian's C++14 Abseil build),
// e.g. spdlog::error("{}", status.message()).
template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<fmt::string_view> {
  template <typename Context>
  auto format(absl::string_view s, Context& ctx) const {
    return fmt::formatter<fmt::string_view>::format(fmt::string_view(s.data(), s.size()), ctx);
  }
};

#endif  // MOE_COMMON_LOGGING_H_
