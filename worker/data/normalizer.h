// Unicode normalisation as tokenizer.json's "normalizer" configures it: none, NFC, NFD, NFKC,
// NFKD, or a Sequence of these (utf8proc does the work).
#ifndef MOE_WORKER_DATA_NORMALIZER_H_
#define MOE_WORKER_DATA_NORMALIZER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/utf8.h"
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

}  // namespace moe::worker

#endif  // MOE_WORKER_DATA_NORMALIZER_H_
