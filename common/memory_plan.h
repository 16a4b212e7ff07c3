// What one rank of a training job holds in device memory and in host memory, by design: stated
// in the trainer's start log, used by `moectl plan` and moed's admission, and what the measured
// peak is checked against (tests, scripts/gpu_check.sh).
//
// Every term is derived from what the code allocates, not fitted. On the device: the flat
// parameter buffer (model dtype, the whole model on every rank); the fp32 gradient of this
// rank's range; fp32 master weights, exp_avg and exp_avg_sq of that range; the gradient buckets
// in transit; and one micro-batch's activations: what autograd keeps from the forward for the
// backward, plus the first backward step's temporaries (the loss's [tokens, vocab] gradients).
// With zero.offload_optimizer: cpu the range's gradient and optimizer state move to the host,
// with pinned staging for a GPU model's new weights and one bucket's share. With asynchronous
// checkpoints the host also holds the copy of what the rank saves (rank 0: with the model).
// A CPU job's device is the host: its total is total() + host_total().
#ifndef MOE_COMMON_MEMORY_PLAN_H_
#define MOE_COMMON_MEMORY_PLAN_H_

#include <cstdint>
#include <string>
#include <utility>

#include "moe/v1/job.pb.h"

namespace moe::common {

// fp32 elements per gradient bucket for zero.bucket_mb MiB (at least 1), and how many buckets
// may be in transit at once with zero.overlap_comm: what GradientBuckets allocates.
int64_t BucketElements(double bucket_mb);
inline constexpr int kMaxBucketsInFlight = 2;

struct MemoryPlan {
  // Device memory, bytes.
  int64_t parameters = 0;   // the flat buffer, model dtype
  int64_t gradients = 0;    // fp32 gradient of this rank's range (unless offloaded)
  int64_t optimizer = 0;    // fp32 master weights, exp_avg, exp_avg_sq of the range (ditto)
  int64_t buckets = 0;      // gradient buckets (or, replicated, parameter .grads) in transit
  int64_t activations = 0;  // one micro-batch, forward kept for backward plus its first step
  // Host memory of rank 0 (the largest), bytes.
  int64_t host_optimizer = 0;   // offloaded: the range's fp32 gradient, master weights, moments
  int64_t host_staging = 0;     // offloaded GPU model: new weights and one bucket's share, pinned
  int64_t host_checkpoint = 0;  // async saves: the copy of the optimizer shard (all ranks)
  int64_t host_model_copy = 0;  // async saves: the copy of the model (rank 0 only)
  int64_t total() const { return parameters + gradients + optimizer + buckets + activations; }
  int64_t host_total() const {
    return host_optimizer + host_staging + host_checkpoint + host_model_copy;
  }
  // Host memory of a node that runs `ranks` ranks, rank 0 among them.
  int64_t HostPerNode(int ranks) const {
    return ranks * (host_total() - host_model_copy) + host_model_copy;
  }
  // The device's terms, then the host's (when any), one line each with GB and share, e.g. for
  // the start log.
  std::string Table() const;
  // The largest device term, by the name Table() gives it.
  std::pair<const char*, int64_t> LargestDeviceTerm() const;
};

// Activation bytes of one micro-batch of `rows` x `seq_len` tokens through `config` (resolved:
// vocab_size set) with `moe`, in dtype of `element_size` bytes; with activation checkpointing
// only each block's input is kept, plus one block's activations during its recomputation.
int64_t ActivationBytes(const moe::v1::MptConfig& config, const moe::v1::MoeSpec& moe, int64_t rows,
                        int64_t seq_len, int64_t element_size, bool activation_checkpointing);

// The plan of one rank of `spec` (its model config resolved) on `world_size` ranks, for a flat
// buffer of `padded_parameters` elements and `bucket_bytes` of buckets in transit (the
// GradientSync's own figure).
MemoryPlan PlanMemory(const moe::v1::JobSpec& spec, int world_size, int64_t padded_parameters,
                      int64_t bucket_bytes);

// The same, computed from the spec alone (nothing is built): the bucket term assumes the
// largest parameter and zero.bucket_mb per bucket in transit. For "will it fit" questions.
MemoryPlan PlanMemoryFromSpec(const moe::v1::JobSpec& spec, int world_size);

}  // namespace moe::common

#endif  // MOE_COMMON_MEMORY_PLAN_H_
