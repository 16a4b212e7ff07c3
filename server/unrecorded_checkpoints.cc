#include "server/unrecorded_checkpoints.h"

#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "common/checkpoint_manifest.h"

namespace moe::server {

Unrecorded FindUnrecorded(const std::filesystem::path& output_dir, int64_t newest_known,
                          double submitted_unix_s) {
  Unrecorded found;
  for (const auto& [step, dir] : common::CheckpointDirs(output_dir)) {
    if (step <= newest_known) break;
    // Committed before the job existed: another run's, in a reused output directory.
    struct stat st {};
    if (::stat((dir / common::kManifestFile).c_str(), &st) == 0 &&
        st.st_mtim.tv_sec + st.st_mtim.tv_nsec * 1e-9 < submitted_unix_s) {
      continue;
    }
    if (const absl::Status verified = common::VerifyCheckpoint(dir); !verified.ok()) {
      found.ignored.push_back(
          absl::StrCat("ignoring unrecorded ", dir.string(), ": ", verified.message()));
      continue;
    }
    found.step = step;
    found.dir = dir;
    break;
  }
  return found;
}

}  // namespace moe::server
