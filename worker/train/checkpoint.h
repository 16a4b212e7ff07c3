// Training checkpoints and their commit protocol (DESIGN.md): files are written into
// `checkpoint-step-N.tmp/` and fsynced, then `manifest.json` (size and SHA-256 of every file)
// is written and fsynced last, the directory is renamed to `checkpoint-step-N/` and the parent
// fsynced. A checkpoint counts only if its manifest verifies; anything else is never loaded.
//
// Contents: config.json + model.safetensors (a loadable Hugging Face MPT directory),
// optimizer.safetensors ("master/NAME", "exp_avg/NAME", "exp_avg_sq/NAME": fp32, keyed by
// parameter name; metadata "step"), rng_state.safetensors, training_state.json (step, epoch,
// data position, world size, the spec), tokenizer.json, manifest.json.
#ifndef MOE_WORKER_TRAIN_CHECKPOINT_H_
#define MOE_WORKER_TRAIN_CHECKPOINT_H_

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "moe/v1/job.pb.h"
#include "worker/model/mpt_model.h"
#include "worker/train/adamw.h"

namespace moe::worker {

struct TrainingState {
  int64_t step = 0;            // optimizer steps done
  int64_t epoch = 0;           // the epoch the data position belongs to
  uint64_t data_position = 0;  // samples of `epoch`'s order consumed (all ranks together)
  int64_t batches = 0;         // micro-batches done (per rank)
  int32_t world_size = 1;
};

// The whole optimizer state, over the full (padded) flat parameter buffer: on one rank or
// in plain data parallel the optimizer's own tensors, under ZeRO gathered from every rank.
struct OptimizerState {
  torch::Tensor master, exp_avg, exp_avg_sq;  // fp32 [flat size]
  int64_t step = 0;
};

// The directory name of step N's committed checkpoint.
std::string CheckpointName(int64_t step);

// Writes and commits a checkpoint of step state.step under `output_dir`; returns its path.
// An existing checkpoint of the same step is replaced only after the new one is durable.
absl::StatusOr<std::filesystem::path> SaveCheckpoint(const std::filesystem::path& output_dir,
                                                     const TrainingState& state,
                                                     const moe::v1::JobSpec& spec,
                                                     MptForCausalLM& model,
                                                     const OptimizerState& optimizer,
                                                     const FlatParameters& flat);

// OK if `dir` has a manifest whose every file exists with the recorded size and SHA-256;
// otherwise DataLoss (or NotFound) naming the first problem.
absl::Status VerifyCheckpoint(const std::filesystem::path& dir);

// The newest committed checkpoint under `output_dir` that verifies, logging a warning naming
// each newer one that does not. NotFound if there is none.
absl::StatusOr<std::filesystem::path> LatestCheckpoint(const std::filesystem::path& output_dir);

// Among committed checkpoints up to step `up_to_step` (the one just written), deletes those
// older than the `keep_last` newest verified ones (0 keeps all). Never deletes a verified
// checkpoint among the newest `keep_last`, anything newer than it, nor any checkpoint past
// `up_to_step` (e.g. left by an earlier run in the same directory). Returns what it deleted.
std::vector<std::filesystem::path> ApplyRetention(const std::filesystem::path& output_dir,
                                                  uint32_t keep_last, int64_t up_to_step);

// Reads training_state.json of a verified checkpoint.
absl::StatusOr<TrainingState> ReadTrainingState(const std::filesystem::path& dir);

// Restores model weights, optimizer state and RNG from the verified checkpoint `dir` into a
// model and optimizer built from the same model configuration. The optimizer takes the part of
// the state inside its range, so a checkpoint resumes on any world size. InvalidArgument, naming
// both sides, when the checkpoint's model configuration differs from `model`'s.
absl::Status RestoreCheckpoint(const std::filesystem::path& dir, MptForCausalLM& model,
                               AdamW& optimizer, const FlatParameters& flat);

}  // namespace moe::worker

#endif  // MOE_WORKER_TRAIN_CHECKPOINT_H_
