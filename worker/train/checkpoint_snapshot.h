// One rank's part of a checkpoint, ready to be written (worker/train/checkpoint.h says what a
// checkpoint holds and how it is committed): safetensors files of named tensors, and text
// files. Taken from the live model and optimizer either as views (a synchronous save, written
// before training goes on) or as a host copy (an asynchronous save: training changes the
// weights while the copy is written).
#ifndef MOE_WORKER_TRAIN_CHECKPOINT_SNAPSHOT_H_
#define MOE_WORKER_TRAIN_CHECKPOINT_SNAPSHOT_H_

#include <torch/torch.h>

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "moe/v1/job.pb.h"
#include "worker/model/mpt_model.h"
#include "worker/train/adamw.h"
#include "worker/train/flat_parameters.h"

namespace moe::worker {

struct TrainingState {
  int64_t step = 0;            // optimizer steps done
  int64_t epoch = 0;           // the epoch the data position belongs to
  uint64_t data_position = 0;  // samples of `epoch`'s order consumed (all ranks together)
  int64_t batches = 0;         // micro-batches done (per rank)
  int32_t world_size = 1;
};

struct CheckpointSnapshot {
  struct File {
    std::string name;  // in the checkpoint directory
    // A safetensors file of these tensors and metadata, unless `text` is set.
    std::vector<std::pair<std::string, torch::Tensor>> tensors;
    std::map<std::string, std::string> metadata;
    std::optional<std::string> text;
  };
  int64_t step = 0;
  int rank = 0, world_size = 1;
  std::vector<File> files;

  // Bytes of tensor data (what a host copy of it holds).
  uint64_t TensorBytes() const;
};

enum class SnapshotKind {
  kViews,     // the live tensors themselves: valid until training goes on
  kHostCopy,  // copies in host memory (pinned for device tensors), independent of training
};

// Rank `rank` of `world_size`'s part of step state.step's checkpoint: its optimizer shard;
// rank 0 also the model (config.json, model.safetensors), RNG, training state and
// tokenizer.json (`tokenizer_json`, the job's tokenizer file as read at the start). For
// kHostCopy, `reuse` (may be null) is an earlier snapshot whose buffers are copied into where
// shapes match, so that periodic saves allocate host memory once.
CheckpointSnapshot TakeSnapshot(const TrainingState& state, const moe::v1::JobSpec& spec,
                                const std::string& tokenizer_json, MptForCausalLM& model,
                                const AdamW& optimizer, const FlatParameters& flat, int rank,
                                int world_size, SnapshotKind kind,
                                CheckpointSnapshot* reuse = nullptr);

// The job's tokenizer file, as a checkpoint holds it. NotFound naming it when unreadable.
absl::StatusOr<std::string> ReadTokenizerJson(const moe::v1::JobSpec& spec);

}  // namespace moe::worker

#endif  // MOE_WORKER_TRAIN_CHECKPOINT_SNAPSHOT_H_
