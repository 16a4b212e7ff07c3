#include "worker/train/gradient_sync.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "worker/train/grad_clip.h"
#include "worker/train/gradient_buckets.h"

namespace moe::worker {
namespace {

// ZeRO-2: this rank's partition of the gradient, reduced in buckets during backward.
class ZeroGradientSync : public GradientSync {
 public:
  ZeroGradientSync(const moe::v1::ZeroSpec& zero, FlatParameters& flat, Communicator& comm)
      : flat_(flat),
        comm_(comm),
        part_(flat.params().numel() / comm.world_size()),
        begin_(comm.rank() * part_),
        bucket_elements_(GradientBuckets::ElementsFor(zero.bucket_mb())),
        bucket_mb_(zero.bucket_mb()),
        offload_(zero.offload_optimizer() == moe::v1::OFFLOAD_DEVICE_CPU),
        buckets_(flat, comm, begin_, begin_ + part_, bucket_elements_, zero.overlap_comm(),
                 GradientBuckets::kMaxInFlight, offload_) {}

  int64_t begin() const override { return begin_; }
  int64_t end() const override { return begin_ + part_; }
  void FinishMicroBatch() override { buckets_.FinishMicroBatch(); }
  torch::Tensor ClipGradNorm(double max_norm) override {
    return moe::worker::ClipGradNorm(buckets_.partition_grad(), max_norm, comm_);
  }
  torch::Tensor& grad() override { return buckets_.partition_grad(); }
  void FinishUpdate() override {
    torch::NoGradGuard no_grad;
    buckets_.partition_grad().zero_();
    torch::Tensor& params = flat_.params();
    comm_.AllGather(params.narrow(0, begin_, part_), params);  // in place: no temporary
  }
  int64_t GradientBytes() const override { return offload_ ? 0 : part_ * 4; }
  int64_t BucketBytes() const override { return buckets_.BucketBytes(); }
  std::string Describe() const override {
    const size_t n = buckets_.num_buckets();
    return absl::StrCat("ZeRO-2, ", n, n == 1 ? " gradient bucket" : " gradient buckets",
                        " of >= ", bucket_mb_, " MiB, up to ", GradientBuckets::kMaxInFlight,
                        " in flight", offload_ ? ", optimizer offloaded to the CPU" : "");
  }

 private:
  FlatParameters& flat_;
  Communicator& comm_;
  const int64_t part_, begin_, bucket_elements_;
  const double bucket_mb_;
  const bool offload_;
  GradientBuckets buckets_;
};

// Plain data parallel: the whole gradient on every rank, all-reduced once per step.
class ReplicatedGradientSync : public GradientSync {
 public:
  ReplicatedGradientSync(FlatParameters& flat, Communicator& comm) : flat_(flat), comm_(comm) {}

  int64_t begin() const override { return 0; }
  int64_t end() const override { return flat_.params().numel(); }
  void FinishMicroBatch() override { flat_.AccumulateGradients(); }
  torch::Tensor ClipGradNorm(double max_norm) override {
    // Sum this step's gradients over ranks first; the result is the same on every rank, so
    // its norm is local.
    if (comm_.world_size() > 1) comm_.AllReduceSum(flat_.grads());
    LocalCommunicator local(comm_.device());
    return moe::worker::ClipGradNorm(flat_.grads(), max_norm, local);
  }
  torch::Tensor& grad() override { return flat_.grads(); }
  void FinishUpdate() override { flat_.grads().zero_(); }
  int64_t GradientBytes() const override { return flat_.params().numel() * 4; }
  // Each parameter's .grad (model dtype) lives until the micro-batch ends.
  int64_t BucketBytes() const override {
    return flat_.params().numel() * flat_.params().element_size();
  }
  std::string Describe() const override { return "replicated (no ZeRO)"; }

 private:
  FlatParameters& flat_;
  Communicator& comm_;
};

}  // namespace

std::unique_ptr<GradientSync> MakeGradientSync(const moe::v1::ZeroSpec& zero, FlatParameters& flat,
                                               Communicator& comm) {
  if (zero.stage() == 2) return std::make_unique<ZeroGradientSync>(zero, flat, comm);
  return std::make_unique<ReplicatedGradientSync>(flat, comm);
}

}  // namespace moe::worker
