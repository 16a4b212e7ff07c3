// Pre-tokenization as tokenizer.json's "pre_tokenizer" configures it, for the byte-level BPE
// family: zero or more regex splits (`Split`, or the GPT-2 regex of `ByteLevel` with
// use_regex), then optionally the byte-level mapping (`ByteLevel`, last in a `Sequence`).
#ifndef MOE_WORKER_DATA_PRE_TOKENIZER_H_
#define MOE_WORKER_DATA_PRE_TOKENIZER_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json_fwd.hpp"
#include "worker/data/regex.h"

namespace moe::worker {

// The regex GPT-2 (and the ByteLevel pre-tokenizer) splits words with.
inline constexpr char kGpt2SplitPattern[] =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class PreTokenizer {
 public:
  // `config` is the "pre_tokenizer" value (null: no splitting). InvalidArgument names any
  // unsupported type or option.
  static absl::StatusOr<std::unique_ptr<PreTokenizer>> FromJson(const nlohmann::json& config);

  // Splits `text` into pieces (views into `text`), in order. Thread-safe.
  void Split(absl::string_view text, std::vector<absl::string_view>* pieces) const;

  // Whether pieces are to be mapped to the byte-level alphabet before the model sees them.
  bool byte_level() const { return byte_level_; }
  // Whether a space is put before text that does not start with one (ByteLevel option).
  bool add_prefix_space() const { return add_prefix_space_; }

 private:
  struct Stage {
    std::unique_ptr<Regex> regex;
    bool remove_matches;  // "Removed" behaviour; otherwise "Isolated"
  };
  absl::Status Add(const nlohmann::json& config);

  std::vector<Stage> stages_;
  bool byte_level_ = false;
  bool add_prefix_space_ = false;
};

}  // namespace moe::worker

#endif  // MOE_WORKER_DATA_PRE_TOKENIZER_H_
