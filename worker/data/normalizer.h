// Normalisation as tokenizer.json's "normalizer" configures it: none, NFC, NFD, NFKC, NFKD
// (utf8proc does the work), Prepend and Replace of a literal string (SentencePiece-style files:
// Prepend "▁", Replace " " with "▁"), or a Sequence of these, applied in order.
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
  // `config` is the "normalizer" value. InvalidArgument names an unsupported type or option
  // by its JSON path (e.g. normalizer.normalizers[1].type).
  static absl::StatusOr<Normalizer> FromJson(const nlohmann::json& config);

  // Normalises `text` (valid UTF-8) into `out`. Thread-safe.
  void Apply(absl::string_view text, std::string* out) const;

 private:
  struct Stage {
    enum Kind { kUnicode, kPrepend, kReplace } kind;
    int utf8proc_options = 0;  // kUnicode
    std::string pattern;       // kReplace: what is replaced
    std::string content;       // kPrepend: what is put first; kReplace: the replacement
  };
  static absl::StatusOr<Stage> StageFromJson(const nlohmann::json& config, const std::string& path);

  std::vector<Stage> stages_;
};

}  // namespace moe::worker

#endif  // MOE_WORKER_DATA_NORMALIZER_H_
