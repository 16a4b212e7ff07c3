// Communicator over a c10d process group. Rank 0 hosts the TCPStore rendezvous. On a CUDA
// device, ProcessGroupNCCL (collectives on its own stream, ordered after the work queued on
// the caller's); on the CPU, ProcessGroupGloo. Both take every tensor the trainer hands them
// (bf16 and fp32, on their device) as it is: nothing is staged or copied.
#ifndef MOE_WORKER_PARALLEL_C10D_COMMUNICATOR_H_
#define MOE_WORKER_PARALLEL_C10D_COMMUNICATOR_H_

#include <memory>

#include "absl/status/statusor.h"
#include "worker/parallel/communicator.h"
#include "worker/parallel/launch_env.h"

namespace moe::worker {

class C10dCommunicator : public Communicator {
 public:
  // Joins the job described by `env` with this rank's tensors on `device` (a CUDA device:
  // NCCL, which this build must have; the CPU: Gloo). DeadlineExceeded if the other ranks have
  // not all arrived within env.timeout (then every collective would hang), Unavailable if the
  // rendezvous address cannot be reached or bound. A collective later fails (throws) when a
  // peer dies, or after env.timeout without progress.
  static absl::StatusOr<std::unique_ptr<C10dCommunicator>> Create(const LaunchEnv& env,
                                                                  torch::Device device);
  ~C10dCommunicator() override;

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  torch::Device device() const override { return device_; }

  void AllReduceSum(torch::Tensor& tensor) override;
  void ReduceScatterSum(const torch::Tensor& input, torch::Tensor& output) override;
  void AllGather(const torch::Tensor& input, torch::Tensor& output) override;
  std::unique_ptr<PendingCollective> ReduceSumAsync(torch::Tensor& tensor, int root) override;
  void Broadcast(torch::Tensor& tensor, int root) override;
  void Barrier() override;
  // Gloo over the same store, its keys under `name`.
  absl::StatusOr<std::unique_ptr<Communicator>> ForkHostGroup(const std::string& name) override;

 private:
  struct Group;  // the c10d store and process group (kept out of this header)
  C10dCommunicator(int rank, int world_size, torch::Device device, std::unique_ptr<Group> group);

  const int rank_, world_size_;
  const torch::Device device_;
  std::unique_ptr<Group> group_;
};

}  // namespace moe::worker

#endif  // MOE_WORKER_PARALLEL_C10D_COMMUNICATOR_H_
