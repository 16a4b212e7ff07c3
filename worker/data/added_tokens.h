// The added tokens of a tokenizer.json (special tokens such as <|endoftext|>, and others such
// as GPT-NeoX's runs of spaces). They are cut out of the text before pre-tokenization, taking
// the leftmost, then longest, match; lstrip/rstrip widen a match over adjacent whitespace and
// single_word rejects matches inside a word, as in the reference implementation. As there,
// `normalized: false` tokens are matched in the text as written, before normalisation, and
// `normalized: true` tokens (their content normalised too) in the normalised text.
#ifndef MOE_WORKER_DATA_ADDED_TOKENS_H_
#define MOE_WORKER_DATA_ADDED_TOKENS_H_

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json_fwd.hpp"
#include "worker/data/normalizer.h"

namespace moe::worker {

class AddedTokens {
 public:
  // Reads the "added_tokens" array (null or absent: none); `normalizer` is the tokenizer's,
  // which normalised tokens are matched after.
  static absl::StatusOr<AddedTokens> FromJson(const nlohmann::json& added_tokens,
                                              const Normalizer& normalizer);

  // Calls on_text(span) for each stretch of ordinary text and on_token(id) for each added
  // token of the pass (`normalized`: the text is normalised and so are the tokens looked
  // for), in order. Empty stretches are not reported.
  void Split(absl::string_view text, bool normalized,
             const std::function<void(absl::string_view)>& on_text,
             const std::function<void(int32_t)>& on_token) const;

  std::optional<int32_t> TokenToId(absl::string_view content) const;
  const std::string* IdToToken(int32_t id) const;
  bool empty() const { return tokens_.empty(); }

 private:
  struct Token {
    std::string content;
    int32_t id;
    bool lstrip, rstrip, single_word, normalized;
    std::string pattern;  // what is matched: the content, normalised when `normalized`
  };
  std::vector<Token> tokens_;
  // For each pass (0: as written, 1: normalised) and first byte of the pattern, indices into
  // tokens_ sorted by pattern length, longest first.
  std::array<std::array<std::vector<int32_t>, 256>, 2> by_first_byte_;
  std::array<bool, 2> has_pass_ = {false, false};  // whether a pass has any token to match
  absl::flat_hash_map<int32_t, int32_t> id_to_index_;
  absl::flat_hash_map<std::string, int32_t> content_to_id_;
};

}  // namespace moe::worker

#endif  // MOE_WORKER_DATA_ADDED_TOKENS_H_
