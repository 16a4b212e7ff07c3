// Seconds on the steady clock (for durations: never jumps with the wall clock).
#ifndef MOE_COMMON_STEADY_SECONDS_H_
#define MOE_COMMON_STEADY_SECONDS_H_

#include <chrono>

namespace moe::common {

inline double SteadySeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace moe::common

#endif  // MOE_COMMON_STEADY_SECONDS_H_
