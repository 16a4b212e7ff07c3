// A Hugging Face tokenizer.json of the BPE families — byte-level (GPT-2, GPT-NeoX/MPT, Llama-3,
// GPT-4o) and SentencePiece-style (Metaspace, byte fallback: Llama-2, Mistral): added tokens
// as written -> normalizer -> normalised added tokens -> pre-tokenizer -> BPE -> ids, and ids ->
// text through the decoder. Produces the same ids and text as the Rust `tokenizers` library
// (tests/reference/); what it does not implement is refused at load by its JSON path.
#ifndef MOE_WORKER_DATA_TOKENIZER_H_
#define MOE_WORKER_DATA_TOKENIZER_H_

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "worker/data/added_tokens.h"
#include "worker/data/bpe_model.h"
#include "worker/data/decoder.h"
#include "worker/data/normalizer.h"
#include "worker/data/pre_tokenizer.h"

namespace moe::worker {

class Tokenizer {
 public:
  // Loads a tokenizer.json. NotFound if unreadable; InvalidArgument naming the file and the
  // part (normalizer, pre_tokenizer, model, decoder, added_tokens) that is malformed or of an
  // unsupported kind.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromFile(const std::filesystem::path& path);
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromJson(absl::string_view json,
                                                             absl::string_view source);

  // Appends the ids of `text` to `ids`; no special tokens are added (as add_special_tokens
  // false), but added tokens written in the text are recognised. Bytes that are not valid
  // UTF-8 are read as U+FFFD. Thread-safe.
  void Encode(absl::string_view text, std::vector<int32_t>* ids) const;
  std::vector<int32_t> Encode(absl::string_view text) const;

  // The text of `ids`, special tokens included; byte sequences that are not valid UTF-8 come
  // out as U+FFFD. InvalidArgument for an id the tokenizer does not have.
  absl::StatusOr<std::string> Decode(absl::Span<const int32_t> ids) const;

  // Looks up a token (added tokens first, then the vocabulary).
  std::optional<int32_t> TokenToId(absl::string_view token) const;
  // One past the largest id (the minimum embedding size).
  int32_t size() const { return size_; }

 private:
  Tokenizer() = default;
  // Appends the ids of one stretch of text without added tokens.
  // `at_start`: the text starts the input (Metaspace's prepend_scheme first).
  void EncodeOrdinary(absl::string_view text, bool at_start, std::vector<int32_t>* ids) const;
  void EncodePiece(absl::string_view piece, std::vector<int32_t>* ids) const;

  Normalizer normalizer_;
  AddedTokens added_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<BpeModel> model_;
  Decoder decoder_;
  int32_t size_ = 0;

  // Ids of recently seen pieces (keyed by the raw piece, before byte-level mapping).
  static constexpr size_t kCacheCapacity = 1 << 16;
  mutable absl::Mutex cache_mu_;
  mutable absl::flat_hash_map<std::string, std::vector<int32_t>> cache_ ABSL_GUARDED_BY(cache_mu_);
};

}  // namespace moe::worker

#endif  // MOE_WORKER_DATA_TOKENIZER_H_
