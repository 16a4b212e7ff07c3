// How a rank's gradients become the gradient its optimizer applies, and how the update reaches
// every rank: one interface, two implementations.
//
// ZeRO-2 (MakeGradientSync with zero.stage 2): rank r owns partition r of the padded flat
// buffer; gradients are reduced in buckets during backward (GradientBuckets) into the owner's
// fp32 partition, and after the update every rank's partition is all-gathered into the flat
// buffer in place. Replicated (stage 0): every rank accumulates the whole fp32 gradient and
// all-reduces it once per step; the update is the same on every rank.
//
// Per optimizer step, every rank calls: FinishMicroBatch() after each micro-batch's backward;
// ClipGradNorm(); the optimizer's Step over [begin(), end()) with grad(); FinishUpdate().
// Every buffer lives on the flat parameters' device, except ZeRO-2's offloaded partition
// gradient (zero.offload_optimizer: cpu), which lives in host memory.
#ifndef MOE_WORKER_TRAIN_GRADIENT_SYNC_H_
#define MOE_WORKER_TRAIN_GRADIENT_SYNC_H_

#include <torch/torch.h>

#include <memory>
#include <string>

#include "moe/v1/job.pb.h"
#include "worker/parallel/communicator.h"
#include "worker/train/flat_parameters.h"

namespace moe::worker {

class GradientSync {
 public:
  virtual ~GradientSync() = default;

  // The range of the flat buffer this rank updates: [begin, end).
  virtual int64_t begin() const = 0;
  virtual int64_t end() const = 0;

  // After each micro-batch's backward (every rank, even one with no rows). Throws c10::Error
  // when a collective fails.
  virtual void FinishMicroBatch() = 0;

  // Completes the step's gradient (replicated: its all-reduce) and returns its global norm (an
  // fp64 device scalar), clipping grad() to max_norm when max_norm > 0 (grad_clip.h).
  // Collective; the host does not wait.
  virtual torch::Tensor ClipGradNorm(double max_norm) = 0;

  // fp32 [end - begin]: this rank's range of the gradient summed over ranks.
  virtual torch::Tensor& grad() = 0;

  // After the optimizer wrote this rank's range of the parameters: zeroes the gradient and
  // gives every rank every range. Collective.
  virtual void FinishUpdate() = 0;

  // Bytes of device gradient storage this rank holds throughout (the fp32 gradient of its
  // range, unless offloaded) and at most in transit (gradient buckets), for the memory plan.
  virtual int64_t GradientBytes() const = 0;
  virtual int64_t BucketBytes() const = 0;
  // "ZeRO-2, 12 gradient buckets of >= 4 MB, 2 in flight" or "replicated".
  virtual std::string Describe() const = 0;
};

// The implementation the spec's zero.stage names, over `flat` and `comm` (which must outlive
// it); `flat` must be padded to a multiple of comm.world_size().
std::unique_ptr<GradientSync> MakeGradientSync(const moe::v1::ZeroSpec& zero, FlatParameters& flat,
                                               Communicator& comm);

}  // namespace moe::worker

#endif  // MOE_WORKER_TRAIN_GRADIENT_SYNC_H_
