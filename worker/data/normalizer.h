// Unicode normalisation as tokenizer.json's "normalizer" configures it: none, NFC, NFD, NFKC,
// NFKD, or a Sequence of these (utf8proc does the work). Also owns the repair of invalid
// UTF-8, which every encode passes through first.
#ifndef MOE_WORKER_DATA_NORMALIZER_H_
#define MOE_WORKER_DATA_NORMALIZER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json_fwd.hpp"

namespace moe::worker {

class Normalizer {
 public:
  // `config` is the "normalizer" value. InvalidArgument names an unsupported type.
  static absl::StatusOr<Normalizer> FromJson(const nlohmann::json& config);

  // Normalises `text` (valid UTF-8) into `out`. Thread-safe.
  void Apply(absl::string_view text, std::string* out) const;

 private:
  std::vector<int> stages_;  // utf8proc option sets, applied in order
};

// Returns true if `text` is valid UTF-8 (no overlongs, surrogates or values past U+10FFFF).
bool IsValidUtf8(absl::string_view text);

// Copies `text` into `out`, replacing each maximal ill-formed subsequence with one U+FFFD
// (the WHATWG rule, as Rust's from_utf8_lossy and JavaScript's TextDecoder).
void RepairUtf8(absl::string_view text, std::string* out);

}  // namespace moe::worker

#endif  // MOE_WORKER_DATA_NORMALIZER_H_
