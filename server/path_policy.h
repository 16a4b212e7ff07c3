// Where job specs may make moed (and the workers it starts for them) read and write: under
// the configured roots only. Paths are made absolute and normalised, and symbolic links are
// resolved as far as the path exists, before comparing, so neither ".." nor a link escapes.
#ifndef MOE_SERVER_PATH_POLICY_H_
#define MOE_SERVER_PATH_POLICY_H_

#include <filesystem>
#include <vector>

#include "absl/status/status.h"
#include "moe/v1/job.pb.h"

namespace moe::server {

class PathPolicy {
 public:
  // No roots: every path is allowed (moed trusts whoever reaches it, loopback by default).
  explicit PathPolicy(std::vector<std::filesystem::path> roots);

  // OK when every path of `spec` (model.hf_path, model.tokenizer, data.train_file,
  // checkpoint.output_dir, checkpoint.resume_from) is under a root; PermissionDenied listing
  // each field and path that is not, and the roots.
  absl::Status Check(const moe::v1::JobSpec& spec) const;
  // Whether `path` is under a root.
  bool Allows(const std::filesystem::path& path) const;

 private:
  std::vector<std::filesystem::path> roots_;  // canonical
};

}  // namespace moe::server

#endif  // MOE_SERVER_PATH_POLICY_H_
