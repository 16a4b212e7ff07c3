// tokenizer.json as arbitrary bytes; a tokenizer that loads must also encode and decode text
// (the input itself) without failing its own invariants.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/string_view.h"
#include "worker/data/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view json(reinterpret_cast<const char*>(data), size);
  const auto tokenizer = moe::worker::Tokenizer::FromJson(json, "fuzz.json");
  if (!tokenizer.ok()) return 0;
  const std::vector<int32_t> ids = (*tokenizer)->Encode(json.substr(0, 256));
  for (int32_t id : ids) {
    if (id < 0 || id >= (*tokenizer)->size()) std::abort();  // an id outside the vocabulary
  }
  (void)(*tokenizer)->Decode(ids);
  return 0;
}
