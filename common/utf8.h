// UTF-8 validity and repair (utf8proc), for every place that takes text from outside.
#ifndef MOE_COMMON_UTF8_H_
#define MOE_COMMON_UTF8_H_

#include <string>

#include "absl/strings/string_view.h"

namespace moe::common {

// Returns true if `text` is valid UTF-8 (no overlongs, surrogates or values past U+10FFFF).
bool IsValidUtf8(absl::string_view text);

// Copies `text` into `out`, replacing each maximal ill-formed subsequence with one U+FFFD
// (the WHATWG rule, as Rust's from_utf8_lossy and JavaScript's TextDecoder).
void RepairUtf8(absl::string_view text, std::string* out);

}  // namespace moe::common

#endif  // MOE_COMMON_UTF8_H_
