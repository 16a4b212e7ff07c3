// Collectives the trainer needs, whatever carries them: c10d NCCL on the rank's GPU or Gloo on
// the CPU (C10dCommunicator), or nothing for a single process (LocalCommunicator). Every rank
// must make the same calls in the same order. Tensors are contiguous and on device(); no
// collective copies or stages them (callers place them there).
#ifndef MOE_WORKER_PARALLEL_COMMUNICATOR_H_
#define MOE_WORKER_PARALLEL_COMMUNICATOR_H_

#include <torch/torch.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace moe::worker {

// A collective in flight. Its output is ready, and its tensors may be touched again, only after
// Wait(), which throws c10::Error when the collective failed (a peer died or timed out). On a
// GPU, Wait() makes the current stream wait for it; the host does not block.
class PendingCollective {
 public:
  virtual ~PendingCollective() = default;
  virtual void Wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // Where this rank's tensors live: its GPU under NCCL, else the CPU.
  virtual torch::Device device() const = 0;
  // Sums `tensor` over all ranks, in place.
  virtual void AllReduceSum(torch::Tensor& tensor) = 0;
  // `input` [world_size * n] on every rank; `output` [n] receives this rank's slice of the
  // element-wise sum over ranks.
  virtual void ReduceScatterSum(const torch::Tensor& input, torch::Tensor& output) = 0;
  // `input` [n] from every rank into `output` [world_size * n], rank r's at [r * n, (r+1) * n).
  // `input` may be that slice of `output` itself (an in-place gather: no temporary).
  virtual void AllGather(const torch::Tensor& input, torch::Tensor& output) = 0;
  // Starts summing `tensor` over all ranks into rank `root`'s `tensor` (other ranks' tensors
  // are left unspecified) and returns without waiting for it.
  virtual std::unique_ptr<PendingCollective> ReduceSumAsync(torch::Tensor& tensor, int root) = 0;
  // Copies `tensor` from rank `root` to every rank, in place.
  virtual void Broadcast(torch::Tensor& tensor, int root) = 0;
  virtual void Barrier() = 0;

  // Collective: a new communicator over the same ranks for host (CPU) tensors, independent of
  // this one, so that its collectives may run on another thread while this one's do (a
  // background checkpoint commit). Every rank forks with the same `name`, once per name.
  // Unavailable when the ranks cannot connect.
  virtual absl::StatusOr<std::unique_ptr<Communicator>> ForkHostGroup(const std::string& name) = 0;
};

// World size 1 on `device`: every collective is the identity.
class LocalCommunicator : public Communicator {
 public:
  explicit LocalCommunicator(torch::Device device = torch::kCPU) : device_(device) {}
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  torch::Device device() const override { return device_; }
  void AllReduceSum(torch::Tensor&) override {}
  void ReduceScatterSum(const torch::Tensor& input, torch::Tensor& output) override {
    output.copy_(input);
  }
  void AllGather(const torch::Tensor& input, torch::Tensor& output) override {
    if (!input.is_same(output) && input.data_ptr() != output.data_ptr()) output.copy_(input);
  }
  std::unique_ptr<PendingCollective> ReduceSumAsync(torch::Tensor&, int) override {
    return std::make_unique<Done>();
  }
  void Broadcast(torch::Tensor&, int) override {}
  void Barrier() override {}
  absl::StatusOr<std::unique_ptr<Communicator>> ForkHostGroup(const std::string&) override {
    return std::make_unique<LocalCommunicator>(torch::kCPU);
  }

 private:
  struct Done : PendingCollective {
    void Wait() override {}
  };
  const torch::Device device_;
};

}  // namespace moe::worker

#endif  // MOE_WORKER_PARALLEL_COMMUNICATOR_H_
