// Communicator over a c10d process group. Rank 0 hosts the TCPStore rendezvous. On CUDA builds
// (MOE_WITH_CUDA) with a GPU, ProcessGroupNCCL on the GPU that LOCAL_RANK picks; otherwise
// ProcessGroupGloo on the CPU. What a backend cannot take travels in a staged copy: LibTorch
// 1.13's Gloo has no bf16 (bf16 goes as fp32) and no reduce_scatter (an all_reduce keeping this
// rank's slice); NCCL takes only tensors on its GPU (CPU tensors, e.g. the trainer's counters,
// are staged there and back). Callers never know which backend they have.
#ifndef MOE_WORKER_DIST_C10D_COMMUNICATOR_H_
#define MOE_WORKER_DIST_C10D_COMMUNICATOR_H_

#include <chrono>
#include <memory>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include "absl/status/statusor.h"
#include "worker/dist/communicator.h"
#include "worker/dist/launch_env.h"
#include "worker/torch_compat.h"

namespace moe::worker {

class C10dCommunicator : public Communicator {
 public:
  // Joins the job described by `env`. DeadlineExceeded if the other ranks have not all arrived
  // within env.timeout (then every collective would hang), Unavailable if the rendezvous
  // address cannot be reached or bound. A collective later fails (throws) when a peer dies,
  // or after env.timeout without progress.
  static absl::StatusOr<std::unique_ptr<C10dCommunicator>> Create(const LaunchEnv& env);

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  // Where collectives run: the GPU under NCCL, else the CPU.
  torch::Device device() const { return device_; }

  void AllReduceSum(torch::Tensor& tensor) override;
  void ReduceScatterSum(const torch::Tensor& input, torch::Tensor& output) override;
  void AllGather(const torch::Tensor& input, torch::Tensor& output) override;
  std::unique_ptr<PendingCollective> ReduceSumAsync(torch::Tensor& tensor, int root) override;
  void Broadcast(torch::Tensor& tensor, int root) override;
  void Barrier() override;

 private:
  C10dCommunicator(int rank, int world_size, torch::Device device,
                   c10::intrusive_ptr<c10d::Store> store, c10::intrusive_ptr<C10dBackend> group)
      : rank_(rank),
        world_size_(world_size),
        device_(device),
        store_(std::move(store)),
        group_(std::move(group)) {}

  bool nccl() const { return device_.is_cuda(); }
  // `t` itself if the backend takes it as it is, else a copy it takes (on its device; fp32 for
  // bf16 under Gloo). Copy results back with Unstage.
  torch::Tensor Stage(const torch::Tensor& t) const;
  static void Unstage(const torch::Tensor& staged, torch::Tensor& t);

  const int rank_, world_size_;
  const torch::Device device_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<C10dBackend> group_;
};

}  // namespace moe::worker

#endif  // MOE_WORKER_DIST_C10D_COMMUNICATOR_H_
