// A safetensors file as arbitrary bytes: the header checks must refuse what would read
// outside the file; what they accept must load.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "worker/model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::filesystem::path path =
      std::filesystem::temp_directory_path() /
      ("moe_safetensors_fuzz_" + std::to_string(getpid()) + ".safetensors");
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  const auto file = moe::worker::SafetensorsFile::Open(path);
  if (!file.ok()) return 0;
  for (const auto& [name, entry] : (*file)->entries()) {
    if (entry.end - entry.begin > (1u << 20)) continue;  // keep each run small
    if (!(*file)->Load(name).ok()) std::abort();  // accepted by the header checks, so loadable
  }
  return 0;
}
