// MOE_CHECK: aborts with a message when a programmer's invariant is broken. Not for user
// errors, which are absl::Status.
#ifndef MOE_COMMON_CHECK_H_
#define MOE_COMMON_CHECK_H_

#include <cstdlib>

#include "spdlog/spdlog.h"

#define MOE_CHECK(condition, ...)                                                    \
  do {                                                                               \
    if (!(condition)) {                                                              \
      spdlog::critical("{}:{}: check failed: {} {}", __FILE__, __LINE__, #condition, \
                       fmt::format("" __VA_ARGS__));                                 \
      std::abort();                                                                  \
    }                                                                                \
  } while (0)

#endif  // MOE_COMMON_CHECK_H_
