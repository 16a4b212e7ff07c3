// Integer fields of a tokenizer.json (ids, offsets), read safely: a JSON number is converted to
// an integer only when it is whole and in range, since converting a float such as 8.9e37 to an
// integer type is undefined behaviour.
#ifndef MOE_WORKER_DATA_JSON_INTEGER_H_
#define MOE_WORKER_DATA_JSON_INTEGER_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace moe::worker {

// `value` as an integer in [lo, hi]; InvalidArgument naming `what` and the value otherwise
// (a fraction, a number out of range, a string).
inline absl::StatusOr<int64_t> JsonInteger(const nlohmann::json& value, absl::string_view what,
                                           int64_t lo, int64_t hi) {
  bool ok = false;
  int64_t n = 0;
  if (value.is_number_unsigned()) {
    const uint64_t u = value.get<uint64_t>();
    ok = u <= static_cast<uint64_t>(hi);
    n = ok ? static_cast<int64_t>(u) : 0;
  } else if (value.is_number_integer()) {
    n = value.get<int64_t>();
    ok = true;
  }
  if (!ok || n < lo || n > hi) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer ", what, ": ", value.dump(),
                                                   " is not a whole number from ", lo, " to ", hi));
  }
  return n;
}

}  // namespace moe::worker

#endif  // MOE_WORKER_DATA_JSON_INTEGER_H_
