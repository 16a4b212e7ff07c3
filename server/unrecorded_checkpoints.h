// Checkpoints committed in a job's output directory but never reported to moed (a worker killed
// between the commit's rename and its report): found by reading the directory, so that moed can
// adopt them. Reads and hashes files: call it off any lock that others wait on.
#ifndef MOE_SERVER_UNRECORDED_CHECKPOINTS_H_
#define MOE_SERVER_UNRECORDED_CHECKPOINTS_H_

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace moe::server {

// The newest unrecorded checkpoint that verifies, and why newer ones did not.
struct Unrecorded {
  int64_t step = 0;  // 0: none
  std::filesystem::path dir;
  std::vector<std::string> ignored;  // "ignoring unrecorded DIR: why"
};

// Searches `output_dir` for committed checkpoints newer than `newest_known` whose manifests were
// written after the job was submitted (`submitted_unix_s`; older ones are another run's) and
// verify in full.
Unrecorded FindUnrecorded(const std::filesystem::path& output_dir, int64_t newest_known,
                          double submitted_unix_s);

}  // namespace moe::server

#endif  // MOE_SERVER_UNRECORDED_CHECKPOINTS_H_
