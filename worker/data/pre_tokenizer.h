// Pre-tokenization as tokenizer.json's "pre_tokenizer" configures it, for the byte-level BPE
// family: zero or more regex splits (`Split` with any behavior — Removed, Isolated,
// MergedWithPrevious, MergedWithNext, Contiguous — with or without `invert`, or the GPT-2 regex
// of `ByteLevel` with use_regex), then optionally the byte-level mapping (`ByteLevel`, last in
// a `Sequence`); or, first, `Metaspace` (SentencePiece style: spaces become "▁", one is put
// before the text, and it splits before each "▁"). The splits are those of the Rust
// `tokenizers` library, piece for piece.
#ifndef MOE_WORKER_DATA_PRE_TOKENIZER_H_
#define MOE_WORKER_DATA_PRE_TOKENIZER_H_

#include <memory>
#include <optional>
#include <string>
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
  // unsupported type or option by its JSON path (e.g. pre_tokenizer.pretokenizers[1].type).
  static absl::StatusOr<std::unique_ptr<PreTokenizer>> FromJson(const nlohmann::json& config);

  // Splits `text` into pieces (views into `text`), in order. Thread-safe.
  void Split(absl::string_view text, std::vector<absl::string_view>* pieces) const;

  // Whether pieces are to be mapped to the byte-level alphabet before the model sees them.
  bool byte_level() const { return byte_level_; }
  // Whether a space is put before text that does not start with one (ByteLevel option).
  bool add_prefix_space() const { return add_prefix_space_; }

  // Metaspace's rewriting of a stretch of text before it is split: spaces become the
  // replacement, which is also put first (unless there already) always, or only before the
  // stretch that starts the input (`first`), or never.
  struct Metaspace {
    std::string replacement;
    enum Prepend { kAlways, kFirst, kNever } prepend = kAlways;
  };
  const std::optional<Metaspace>& metaspace() const { return metaspace_; }
  // `text` as Metaspace rewrites it into `out` (`at_start`: it starts the input); false, and
  // `out` untouched, without Metaspace.
  bool Rewrite(absl::string_view text, bool at_start, std::string* out) const;

 private:
  // What becomes of the matches of a split's pattern (the non-matches, with invert).
  enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };
  struct Stage {
    std::unique_ptr<Regex> regex;
    Behavior behavior = Behavior::kIsolated;
    bool invert = false;
  };
  // Adds the pre-tokenizer `config`, found at JSON path `path`.
  absl::Status Add(const nlohmann::json& config, const std::string& path);
  // Appends the pieces `stage` splits `piece` into.
  static void SplitPiece(const Stage& stage, absl::string_view piece,
                         std::vector<absl::string_view>* out);

  std::vector<Stage> stages_;
  bool byte_level_ = false;
  bool add_prefix_space_ = false;
  std::optional<Metaspace> metaspace_;
};

}  // namespace moe::worker

#endif  // MOE_WORKER_DATA_PRE_TOKENIZER_H_
