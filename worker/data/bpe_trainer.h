// Learns a byte-level BPE tokenizer (GPT-NeoX layout: NFC, ByteLevel pre-tokenizer with the
// GPT-2 regex, ByteLevel decoder, <|endoftext|> = 0 and <|padding|> = 1) from text, and writes
// it as a Hugging Face tokenizer.json that Tokenizer and the reference implementations load.
#ifndef MOE_WORKER_DATA_BPE_TRAINER_H_
#define MOE_WORKER_DATA_BPE_TRAINER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace moe::worker {

struct BpeTrainerOptions {
  int32_t vocab_size = 4096;  // special tokens + 256 bytes + merges
  int64_t min_frequency = 2;  // a pair seen fewer times is never merged
  std::vector<std::string> special_tokens = {"<|endoftext|>", "<|padding|>"};
};

class BpeTrainer {
 public:
  explicit BpeTrainer(BpeTrainerOptions options);

  // Counts the words of `text` (NFC-normalised, split by the GPT-2 regex).
  void Add(absl::string_view text);

  // Learns merges until vocab_size is reached or no pair is frequent enough; the most
  // frequent pair wins, ties going to the lexicographically smaller (left, right). Returns
  // the tokenizer.json document. InvalidArgument if vocab_size cannot hold the specials and
  // the 256 byte tokens.
  absl::StatusOr<nlohmann::json> Train() const;

  int64_t words_seen() const { return words_seen_; }

 private:
  BpeTrainerOptions options_;
  absl::flat_hash_map<std::string, int64_t> word_counts_;  // raw bytes -> count
  int64_t words_seen_ = 0;
};

}  // namespace moe::worker

#endif  // MOE_WORKER_DATA_BPE_TRAINER_H_
