// Communicator over a c10d process group: Gloo on CPU (this build), NCCL on CUDA builds (the
// GPU issue). Rank 0 hosts the TCPStore rendezvous. LibTorch 1.13's Gloo has no
// reduce_scatter and no bf16: reduce_scatter is an all_reduce keeping this rank's slice, and
// bf16 tensors travel as fp32.
#ifndef MOE_WORKER_DIST_C10D_COMMUNICATOR_H_
#define MOE_WORKER_DIST_C10D_COMMUNICATOR_H_

#include <chrono>
#include <memory>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include "absl/status/statusor.h"
#include "worker/dist/communicator.h"
#include "worker/dist/launch_env.h"

namespace moe::worker {

class C10dCommunicator : public Communicator {
 public:
  // Joins the job described by `env`. DeadlineExceeded if the other ranks have not all arrived
  // within env.timeout (then every collective would hang), Unavailable if the rendezvous
  // address cannot be reached or bound. A collective later fails (c10::Error) when a peer dies,
  // or after env.timeout without progress.
  static absl::StatusOr<std::unique_ptr<C10dCommunicator>> Create(const LaunchEnv& env);

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  void AllReduceSum(torch::Tensor& tensor) override;
  void ReduceScatterSum(const torch::Tensor& input, torch::Tensor& output) override;
  void AllGather(const torch::Tensor& input, torch::Tensor& output) override;
  std::unique_ptr<PendingCollective> ReduceSumAsync(torch::Tensor& tensor, int root) override;
  void Broadcast(torch::Tensor& tensor, int root) override;
  void Barrier() override;

 private:
  C10dCommunicator(int rank, int world_size, c10::intrusive_ptr<c10d::Store> store,
                   c10::intrusive_ptr<c10d::ProcessGroup> group)
      : rank_(rank), world_size_(world_size), store_(std::move(store)), group_(std::move(group)) {}

  const int rank_, world_size_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroup> group_;
};

}  // namespace moe::worker

#endif  // MOE_WORKER_DIST_C10D_COMMUNICATOR_H_
