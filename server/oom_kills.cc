#include "server/oom_kills.h"

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace moe::server {
namespace {

namespace fs = std::filesystem;

// The value of `key` in a file of "key value" lines.
std::optional<int64_t> Field(const fs::path& file, const std::string& key) {
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    const std::vector<std::string> parts = absl::StrSplit(line, ' ');
    int64_t value = 0;
    if (parts.size() == 2 && parts[0] == key && absl::SimpleAtoi(parts[1], &value)) return value;
  }
  return std::nullopt;
}

// `file` in the cgroup `path` under `root`, or under the path's shorter suffixes.
std::optional<int64_t> Lookup(const fs::path& root, const std::string& path,
                              const std::string& file) {
  std::vector<std::string> parts = absl::StrSplit(path, '/', absl::SkipEmpty());
  for (size_t skip = 0; skip <= parts.size(); ++skip) {
    fs::path dir = root;
    for (size_t i = skip; i < parts.size(); ++i) dir /= parts[i];
    if (const auto value = Field(dir / file, "oom_kill")) return value;
  }
  return std::nullopt;
}

}  // namespace

std::optional<int64_t> OomKills(const fs::path& cgroup_root, const fs::path& self_cgroup) {
  std::ifstream in(self_cgroup);
  for (std::string line; std::getline(in, line);) {
    // "ID:CONTROLLERS:PATH"; v2 is "0::PATH".
    const std::vector<std::string> parts = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (parts.size() != 3) continue;
    if (parts[1].empty()) {
      if (const auto v = Lookup(cgroup_root, parts[2], "memory.events")) return v;
    }
    for (absl::string_view controller : absl::StrSplit(parts[1], ',')) {
      if (controller != "memory") continue;
      if (const auto v = Lookup(cgroup_root / "memory", parts[2], "memory.oom_control")) return v;
    }
  }
  return std::nullopt;
}

}  // namespace moe::server
