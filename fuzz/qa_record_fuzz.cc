// One JSONL record of the training data, as arbitrary bytes.
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "worker/data/qa_record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)moe::worker::ParseQaRecord(absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
