// A checkpoint's manifest.json as arbitrary bytes, verified against a directory that holds
// the files a manifest must name (so the checks past the JSON are reached).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/checkpoint_manifest.h"

namespace {

const std::filesystem::path& Dir() {
  static const std::filesystem::path dir = [] {
    const auto d =
        std::filesystem::temp_directory_path() / ("moe_manifest_fuzz_" + std::to_string(getpid()));
    std::filesystem::create_directories(d);
    for (const char* name : {"config.json", "model.safetensors", "training_state.json",
                             "optimizer-00000-of-00001.safetensors"}) {
      std::ofstream(d / name) << "{}";
    }
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::filesystem::path& dir = Dir();
  {
    std::ofstream out(dir / moe::common::kManifestFile, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  (void)moe::common::VerifyCheckpoint(dir);
  return 0;
}
