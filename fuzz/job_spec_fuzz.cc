// The job spec loader: YAML -> JobSpec -> defaults -> validation, on arbitrary text. Any
// outcome but a crash, a sanitizer report or an exception escaping is fine.
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "common/spec_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view yaml(reinterpret_cast<const char*>(data), size);
  (void)moe::common::ParseJobSpec(yaml, "fuzz.yaml", "/nonexistent");
  return 0;
}
