#include "server/path_policy.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace moe::server {
namespace {

namespace fs = std::filesystem;

fs::path Resolved(const fs::path& path) {
  std::error_code ec;
  fs::path resolved = fs::weakly_canonical(fs::absolute(path, ec), ec);
  return ec ? fs::absolute(path).lexically_normal() : resolved;
}

}  // namespace

PathPolicy::PathPolicy(std::vector<fs::path> roots) {
  for (const fs::path& root : roots) roots_.push_back(Resolved(root));
}

bool PathPolicy::Allows(const fs::path& path) const {
  if (roots_.empty()) return true;
  const fs::path resolved = Resolved(path);
  for (const fs::path& root : roots_) {
    const auto [r, p] = std::mismatch(root.begin(), root.end(), resolved.begin(), resolved.end());
    if (r == root.end() || (std::next(r) == root.end() && r->empty())) return true;
  }
  return false;
}

absl::Status PathPolicy::Check(const moe::v1::JobSpec& spec) const {
  if (roots_.empty()) return absl::OkStatus();
  const std::pair<const char*, std::string> paths[] = {
      {"model.hf_path", spec.model().hf_path()},
      {"model.tokenizer", spec.model().tokenizer()},
      {"data.train_file", spec.data().train_file()},
      {"checkpoint.output_dir", spec.checkpoint().output_dir()},
      {"checkpoint.resume_from",
       spec.checkpoint().resume_from() == "latest" ? "" : spec.checkpoint().resume_from()}};
  std::vector<std::string> refused;
  for (const auto& [field, path] : paths) {
    if (!path.empty() && !Allows(path)) refused.push_back(absl::StrCat(field, " (", path, ")"));
  }
  if (refused.empty()) return absl::OkStatus();
  std::vector<std::string> roots;
  for (const fs::path& root : roots_) roots.push_back(root.string());
  return absl::PermissionDeniedError(
      absl::StrCat("outside this moed's allowed roots (", absl::StrJoin(roots, ", "),
                   "; moed --allowed-root): ", absl::StrJoin(refused, ", ")));
}

}  // namespace moe::server
