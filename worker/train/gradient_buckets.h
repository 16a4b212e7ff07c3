// ZeRO-2's gradient path, as DeepSpeed's stage-2 reduce buckets do it. Parameters are grouped,
// in reverse flat order (the order backward produces their gradients), into buckets of at
// least `bucket_elements` fp32 elements (a larger parameter is a bucket of its own). A hook on
// each parameter adds its gradient, in fp32, to its bucket's buffer; once every parameter of a
// bucket has its gradient, the bucket is summed over ranks into the ranks that own its
// elements (one reduce per owner: a reduce-scatter cut at partition boundaries), and each owner
// adds its share to its partition gradient. Buckets start strictly in bucket order, so every
// rank issues the same collectives in the same order whatever order its hooks fire in.
//
// With `overlap` the reductions run while backward goes on (on the communicator's stream, for
// NCCL): at most `max_in_flight` at once, the oldest waited for (in order) before another
// starts; without it each is waited for as it starts. A parameter's .grad is freed as soon as
// the next gradient arrives, so no full-size gradient buffer ever exists: the memory is this
// rank's partition plus the bucket being filled and the buckets in flight (BucketBytes()).
// Buckets live on the parameters' device. The partition gradient does too, unless it is
// offloaded: then it lives in host memory (pinned for a GPU model), and each reduced bucket's
// share is copied through a pinned staging buffer and added on the host as the bucket completes,
// while the device goes on with the backward already queued.
#ifndef MOE_WORKER_TRAIN_GRADIENT_BUCKETS_H_
#define MOE_WORKER_TRAIN_GRADIENT_BUCKETS_H_

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "common/memory_plan.h"
#include "worker/parallel/communicator.h"
#include "worker/train/flat_parameters.h"

namespace moe::worker {

class GradientBuckets {
 public:
  // [begin, end) is this rank's partition of `flat`'s padded buffer; every rank's partition has
  // the same size, rank r's starting at r * (end - begin). `flat` and `comm` must outlive this.
  GradientBuckets(FlatParameters& flat, Communicator& comm, int64_t begin, int64_t end,
                  int64_t bucket_elements, bool overlap, int max_in_flight = kMaxInFlight,
                  bool offload = false);
  static constexpr int kMaxInFlight = common::kMaxBucketsInFlight;
  // fp32 elements per bucket for zero.bucket_mb MiB (at least 1).
  static int64_t ElementsFor(double bucket_mb);
  ~GradientBuckets();  // removes the hooks
  GradientBuckets(const GradientBuckets&) = delete;
  GradientBuckets& operator=(const GradientBuckets&) = delete;

  // Called by every rank after each micro-batch's backward (even if it had no rows): reduces
  // the buckets whose parameters got no gradient (as zeros) and waits for every reduction.
  // Throws c10::Error when a collective fails.
  void FinishMicroBatch();

  // fp32 [end - begin]: this rank's partition of the rank-summed gradients accumulated since
  // it was last zeroed; in host memory when offloaded.
  torch::Tensor& partition_grad() { return partition_grad_; }
  size_t num_buckets() const { return buckets_.size(); }
  // The most bucket memory that exists at once, in bytes: the largest buckets, one filling
  // and up to max_in_flight being reduced.
  int64_t BucketBytes() const;
  // The most buckets that were in flight at once since construction (tests check the bound).
  size_t peak_in_flight() const { return peak_in_flight_; }

 private:
  struct Bucket {
    int64_t begin, end;          // flat elements
    std::vector<size_t> params;  // indices into flat.ranges()
    size_t waiting = 0;          // parameters still without a gradient this micro-batch
    torch::Tensor buffer;        // fp32 [end - begin] while filling or in flight
  };
  struct InFlight {
    size_t bucket;
    std::vector<std::unique_ptr<PendingCollective>> reductions;
  };

  void OnGradient(size_t param, const torch::Tensor& grad);
  void LaunchReady();
  void Launch(size_t bucket);
  void Complete(InFlight& in_flight);
  void ReleaseGrad(size_t param);
  torch::TensorOptions Fp32() const;  // fp32 on the parameters' device

  FlatParameters& flat_;
  Communicator& comm_;
  const int64_t begin_, end_;
  const bool overlap_;
  const size_t max_in_flight_;
  size_t peak_in_flight_ = 0;
  std::vector<Bucket> buckets_;      // bucket 0 holds the last parameters
  std::vector<size_t> bucket_of_;    // per parameter
  std::vector<bool> arrived_;        // per parameter, this micro-batch
  std::vector<unsigned> hooks_;      // per parameter
  size_t next_ = 0;                  // the next bucket to launch
  std::vector<InFlight> in_flight_;  // launched, not yet waited for
  int64_t previous_ = -1;            // the parameter whose gradient arrived last
  torch::Tensor partition_grad_;
  torch::Tensor staging_;  // offloaded GPU model: pinned fp32, the largest bucket's share
};

}  // namespace moe::worker

#endif  // MOE_WORKER_TRAIN_GRADIENT_BUCKETS_H_
