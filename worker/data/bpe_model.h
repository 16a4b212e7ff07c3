// The BPE model of a Hugging Face tokenizer.json: a vocabulary and ranked merges. Encodes one
// pre-tokenized word (already in the vocabulary's alphabet, e.g. byte-level characters) by
// applying merges lowest rank first, with a priority queue over adjacent pairs (as the Rust
// `tokenizers` crate does), so a word of n symbols costs O(n log n), not rescans.
#ifndef MOE_WORKER_DATA_BPE_MODEL_H_
#define MOE_WORKER_DATA_BPE_MODEL_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json_fwd.hpp"

namespace moe::worker {

class BpeModel {
 public:
  // Reads the "model" object of tokenizer.json. Supports vocab, merges (as "a b" strings or
  // [a, b] pairs), unk_token, fuse_unk, byte_fallback and ignore_merges. InvalidArgument for
  // other model types, continuing_subword_prefix, end_of_word_suffix, dropout, or a merge
  // whose parts or result are not in the vocabulary.
  static absl::StatusOr<std::unique_ptr<BpeModel>> FromJson(const nlohmann::json& model);

  // Appends the ids of `word` to `ids`. Characters missing from the vocabulary become their
  // bytes' <0xXX> tokens (byte_fallback), or unk_token, or are dropped when there is none.
  // Thread-safe.
  void Encode(absl::string_view word, std::vector<int32_t>* ids) const;

  std::optional<int32_t> TokenToId(absl::string_view token) const;
  // The token of `id`, or nullptr if `id` is not in the vocabulary.
  const std::string* IdToToken(int32_t id) const;
  int32_t max_id() const { return static_cast<int32_t>(id_to_token_.size()) - 1; }

 private:
  struct Merge {
    int32_t rank;
    int32_t result;
  };
  static uint64_t PairKey(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }

  absl::flat_hash_map<std::string, int32_t> vocab_;
  std::vector<std::string> id_to_token_;  // "" for ids without a token
  absl::flat_hash_map<uint64_t, Merge> merges_;
  std::optional<int32_t> unk_id_;
  bool ignore_merges_ = false;
  bool fuse_unk_ = false;
  // byte_fallback: the id of <0xXX> for each byte, -1 where the vocabulary lacks it.
  std::optional<std::array<int32_t, 256>> byte_fallback_;
};

}  // namespace moe::worker

#endif  // MOE_WORKER_DATA_BPE_MODEL_H_
