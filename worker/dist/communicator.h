// Collectives the trainer needs, whatever carries them: c10d NCCL on CUDA, Gloo on CPU (the
// ZeRO-2 issue), or nothing for a single process (LocalCommunicator). Tensors are reduced in
// place; every rank must make the same calls in the same order.
#ifndef MOE_WORKER_DIST_COMMUNICATOR_H_
#define MOE_WORKER_DIST_COMMUNICATOR_H_

#include <torch/torch.h>

namespace moe::worker {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // Sums `tensor` over all ranks, in place.
  virtual void AllReduceSum(torch::Tensor& tensor) = 0;
};

// World size 1: every collective is the identity.
class LocalCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  void AllReduceSum(torch::Tensor&) override {}
};

}  // namespace moe::worker

#endif  // MOE_WORKER_DIST_COMMUNICATOR_H_
