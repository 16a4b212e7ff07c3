// Training checkpoints and their commit protocol (docs/design.md), shared by all ranks: rank 0
// prepares `checkpoint-step-N.tmp/`; every rank writes and fsyncs its optimizer shard, rank 0
// also the model and the rest; once all ranks agree their files are durable (a collective),
// rank 0 writes `manifest.json` (size and SHA-256 of every file) and fsyncs it, renames the
// directory to `checkpoint-step-N/` and fsyncs the parent. A checkpoint counts only if its
// manifest verifies; anything else is never loaded.
//
// Contents: config.json + model.safetensors (a loadable Hugging Face MPT directory);
// optimizer-RRRRR-of-NNNNN.safetensors, one per rank of the world that wrote it, each holding
// that rank's ZeRO partition as "master/NAME", "exp_avg/NAME", "exp_avg_sq/NAME" (fp32, 1-D:
// the part of parameter NAME in the partition) with metadata "step" and "ranges" (JSON:
// NAME -> [first, end) element of the flattened parameter); rng_state.safetensors;
// training_state.json (step, epoch, data position, world size, the spec); tokenizer.json;
// manifest.json (which also names the number of optimizer shards).
#ifndef MOE_WORKER_TRAIN_CHECKPOINT_H_
#define MOE_WORKER_TRAIN_CHECKPOINT_H_

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/checkpoint_manifest.h"
#include "moe/v1/job.pb.h"
#include "worker/model/mpt_model.h"
#include "worker/parallel/communicator.h"
#include "worker/train/adamw.h"
#include "worker/train/checkpoint_snapshot.h"

namespace moe::worker {

// Naming and verification are shared with moed (common/checkpoint_manifest.h).
using common::CheckpointName;
using common::LatestCheckpoint;
using common::VerifyCheckpoint;

// Writes and commits a checkpoint of step state.step under `output_dir`; returns its path.
// Collective: every rank calls it, with its own optimizer (over its partition of `flat`), and
// all get the same outcome: when any rank fails to write its part, every rank gets an error
// and nothing is committed. An existing checkpoint of the same step is replaced only after the
// new one is durable.
absl::StatusOr<std::filesystem::path> SaveCheckpoint(const std::filesystem::path& output_dir,
                                                     const TrainingState& state,
                                                     const moe::v1::JobSpec& spec,
                                                     MptForCausalLM& model, const AdamW& optimizer,
                                                     const FlatParameters& flat,
                                                     Communicator& comm);

// The same protocol for a snapshot taken earlier (every rank its own part, snapshot.rank ==
// comm.rank()): what SaveCheckpoint does after taking one, and what an asynchronous save does
// on its own thread (with a communicator of its own). Each file is hashed as it is written
// and fsynced once; the manifest is made from those digests (rank 0 learns the other ranks'
// through the agreement collective), so no file is read back.
// `cancel` (may be null): once set, this rank's writes stop with Cancelled, and so nothing
// is committed.
absl::StatusOr<std::filesystem::path> WriteCheckpoint(const std::filesystem::path& output_dir,
                                                      const CheckpointSnapshot& snapshot,
                                                      Communicator& comm,
                                                      const std::atomic<bool>* cancel = nullptr);

// Among committed checkpoints up to step `up_to_step` (the one just written), deletes those
// older than the `keep_last` newest verified ones (0 keeps all). Verified by manifest and file
// sizes (VerifyDepth::kSizes, what moed checks of a reported commit): hashing every kept
// checkpoint again at each save would cost as much as the save; resumes verify contents. Never
// deletes a verified checkpoint among the newest `keep_last`, anything newer than it, nor any
// checkpoint past `up_to_step` (e.g. left by an earlier run in the same directory). Returns what it
// deleted.
std::vector<std::filesystem::path> ApplyRetention(const std::filesystem::path& output_dir,
                                                  uint32_t keep_last, int64_t up_to_step);

// Reads training_state.json of a verified checkpoint.
absl::StatusOr<TrainingState> ReadTrainingState(const std::filesystem::path& dir);

// Restores model weights, optimizer state and RNG from the verified checkpoint `dir` into a
// model and optimizer built from the same model configuration. The optimizer takes, from every
// shard, the state inside its range, so a checkpoint of any world size resumes on any other,
// exactly. InvalidArgument, naming both sides, when the checkpoint's model configuration
// differs from `model`'s; DataLoss when the shards do not cover the optimizer's range.
absl::Status RestoreCheckpoint(const std::filesystem::path& dir, MptForCausalLM& model,
                               AdamW& optimizer, const FlatParameters& flat);

}  // namespace moe::worker

#endif  // MOE_WORKER_TRAIN_CHECKPOINT_H_
