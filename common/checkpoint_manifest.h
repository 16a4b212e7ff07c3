// What makes a checkpoint directory committed (docs/design.md's commit protocol), readable without
// LibTorch so that moed can verify and adopt checkpoints too. A committed checkpoint is a
// directory `checkpoint-step-N/` whose `manifest.json` lists every file with its size and
// SHA-256 (and how many optimizer shards there are), and every listed file matches.
#ifndef MOE_COMMON_CHECKPOINT_MANIFEST_H_
#define MOE_COMMON_CHECKPOINT_MANIFEST_H_

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace moe::common {

inline constexpr char kManifestFile[] = "manifest.json";

// The directory name of step N's committed checkpoint, and the step of such a name (nullopt
// for anything else, e.g. `checkpoint-step-4.tmp`).
std::string CheckpointName(int64_t step);
std::optional<int64_t> CheckpointStep(const std::filesystem::path& dir);

// Directories under `output_dir` named like committed checkpoints, newest step first
// (whether they verify is not checked).
std::vector<std::pair<int64_t, std::filesystem::path>> CheckpointDirs(
    const std::filesystem::path& output_dir);

// Rank `rank`'s optimizer shard in a checkpoint written by `world` ranks.
std::string OptimizerShardName(int rank, int world);

// A checkpoint's JSON file (manifest.json, training_state.json): NotFound when missing,
// DataLoss when it is not JSON.
absl::StatusOr<nlohmann::json> ReadJsonFile(const std::filesystem::path& path);

// Lower-case hex SHA-256 of a file's contents; NotFound if it cannot be read.
absl::StatusOr<std::string> Sha256File(const std::filesystem::path& path);

// How deep VerifyCheckpoint looks: every file's size (cheap: what moed checks when a worker
// reports a commit), or also every file's SHA-256 (reads it all: resumes, adoption).
enum class VerifyDepth { kSizes, kContents };

// OK if `dir` has a manifest whose every file exists with the recorded size (and, for
// kContents, SHA-256) and which lists the required files; otherwise DataLoss (or NotFound)
// naming the first problem.
absl::Status VerifyCheckpoint(const std::filesystem::path& dir,
                              VerifyDepth depth = VerifyDepth::kContents);

// The newest checkpoint under `output_dir` that verifies, logging a warning naming each newer
// one that does not. NotFound if there is none.
absl::StatusOr<std::filesystem::path> LatestCheckpoint(const std::filesystem::path& output_dir);

}  // namespace moe::common

#endif  // MOE_COMMON_CHECKPOINT_MANIFEST_H_
