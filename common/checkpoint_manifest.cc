#include "common/checkpoint_manifest.h"

#include <openssl/evp.h>

#include <algorithm>
#include <fstream>
#include <memory>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace moe::common {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr char kPrefix[] = "checkpoint-step-";
const char* const kRequired[] = {"config.json", "model.safetensors", "training_state.json"};

// VerifyCheckpoint's body; may throw nlohmann::json::exception on a wrongly typed manifest.
absl::Status VerifyManifest(const fs::path& dir, VerifyDepth depth) {
  ASSIGN_OR_RETURN(Json manifest, ReadJsonFile(dir / kManifestFile));
  if (!manifest.contains("files") || !manifest["files"].is_object()) {
    return absl::DataLossError(absl::StrCat(dir.string(), ": manifest has no file list"));
  }
  const Json& files = manifest["files"];
  std::vector<std::string> required(std::begin(kRequired), std::end(kRequired));
  const int shards = manifest.value("optimizer_shards", 0);
  if (shards < 1) {
    return absl::DataLossError(absl::StrCat(dir.string(), ": manifest names no optimizer shards"));
  }
  for (int r = 0; r < shards; ++r) required.push_back(OptimizerShardName(r, shards));
  for (const std::string& name : required) {
    if (!files.contains(name)) {
      return absl::DataLossError(absl::StrCat(dir.string(), ": manifest lacks ", name));
    }
  }
  for (const auto& [name, info] : files.items()) {
    const fs::path path = dir / name;
    std::error_code ec;
    const auto bytes = fs::file_size(path, ec);
    if (ec) return absl::DataLossError(absl::StrCat(path.string(), ": missing"));
    if (bytes != info.value("bytes", uint64_t{0})) {
      return absl::DataLossError(absl::StrCat(path.string(), ": ", bytes,
                                              " bytes, the manifest says ",
                                              info.value("bytes", uint64_t{0})));
    }
    if (depth == VerifyDepth::kSizes) continue;
    ASSIGN_OR_RETURN(std::string sha, Sha256File(path));
    if (sha != info.value("sha256", "")) {
      return absl::DataLossError(
          absl::StrCat(path.string(), ": checksum differs from the manifest"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Json> ReadJsonFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path.string(), ": missing"));
  Json json = Json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded())
    return absl::DataLossError(absl::StrCat(path.string(), ": not valid JSON"));
  return json;
}

std::string CheckpointName(int64_t step) { return absl::StrCat(kPrefix, step); }

std::optional<int64_t> CheckpointStep(const fs::path& dir) {
  const std::string name = dir.filename().string();
  if (!absl::StartsWith(name, kPrefix)) return std::nullopt;
  int64_t step;
  const std::string digits = name.substr(sizeof(kPrefix) - 1);
  if (digits.empty() || !absl::c_all_of(digits, absl::ascii_isdigit) ||
      !absl::SimpleAtoi(digits, &step)) {
    return std::nullopt;
  }
  return step;
}

std::vector<std::pair<int64_t, fs::path>> CheckpointDirs(const fs::path& output_dir) {
  std::vector<std::pair<int64_t, fs::path>> out;
  std::error_code ec;
  for (fs::directory_iterator it(output_dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (auto step = CheckpointStep(it->path()); step && it->is_directory(ec))
      out.emplace_back(*step, it->path());
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  return out;
}

std::string OptimizerShardName(int rank, int world) {
  return absl::StrCat("optimizer-", absl::Dec(rank, absl::kZeroPad5), "-of-",
                      absl::Dec(world, absl::kZeroPad5), ".safetensors");
}

absl::StatusOr<std::string> Sha256File(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path.string(), ": cannot read"));
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<size_t>(in.gcount()));
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &length);
  std::string hex;
  for (unsigned int i = 0; i < length; ++i)
    absl::StrAppend(&hex, absl::Hex(digest[i], absl::kZeroPad2));
  return hex;
}

absl::Status VerifyCheckpoint(const fs::path& dir, VerifyDepth depth) {
  try {
    return VerifyManifest(dir, depth);
  } catch (const Json::exception& e) {
    return absl::DataLossError(absl::StrCat(dir.string(), "/", kManifestFile, ": ", e.what()));
  }
}

absl::StatusOr<fs::path> LatestCheckpoint(const fs::path& output_dir) {
  for (const auto& [step, dir] : CheckpointDirs(output_dir)) {
    const absl::Status status = VerifyCheckpoint(dir);
    if (status.ok()) return dir;
    spdlog::warn("skipping checkpoint {}: {}", dir.string(), status.message());
  }
  return absl::NotFoundError(
      absl::StrCat("no checkpoint under ", output_dir.string(), " verifies"));
}

}  // namespace moe::common
