// Ids' tokens back to text, as tokenizer.json's "decoder" configures it: ByteLevel (the
// byte-level BPE family), or a Sequence of Replace (a literal string), ByteFallback (<0xXX>
// tokens to their bytes), Fuse and Strip — the SentencePiece-style chain (Llama-2, Mistral) —
// and ByteLevel. Each step maps the list of token strings as the reference's decode_chain
// does; the result is their concatenation. No decoder: the tokens joined with spaces.
#ifndef MOE_WORKER_DATA_DECODER_H_
#define MOE_WORKER_DATA_DECODER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json_fwd.hpp"

namespace moe::worker {

class Decoder {
 public:
  // `config` is the "decoder" value. InvalidArgument names an unsupported type by its JSON
  // path (e.g. decoder.decoders[2].type).
  static absl::StatusOr<Decoder> FromJson(const nlohmann::json& config);

  // The text of `tokens` (which it consumes). May hold invalid UTF-8 (a ByteLevel byte
  // sequence cut short); the caller repairs it. Thread-safe.
  std::string Decode(std::vector<std::string> tokens) const;

 private:
  struct Step {
    enum Kind { kByteLevel, kReplace, kByteFallback, kFuse, kStrip } kind;
    std::string pattern, content;  // kReplace; kStrip: content is the character stripped
    size_t start = 0, stop = 0;    // kStrip: how many at most, from each end
  };
  static absl::StatusOr<Step> StepFromJson(const nlohmann::json& config, const std::string& path);

  bool configured_ = false;
  std::vector<Step> steps_;
};

}  // namespace moe::worker

#endif  // MOE_WORKER_DATA_DECODER_H_
