// Global gradient-norm clipping over a (possibly sharded) fp32 gradient.
#ifndef MOE_WORKER_TRAIN_GRAD_CLIP_H_
#define MOE_WORKER_TRAIN_GRAD_CLIP_H_

#include <torch/torch.h>

#include "worker/parallel/communicator.h"

namespace moe::worker {

// The L2 norm of the whole gradient, sqrt(all_reduce(|grad|^2)) where `grad` is this rank's
// part, as an fp64 scalar on comm's device (summed in fp64 4M elements at a time). If
// max_norm > 0, scales `grad` in place by min(1, max_norm / (norm + 1e-6)). No copy of `grad`
// is made and the host never waits for the device (the coefficient is applied as a tensor).
torch::Tensor ClipGradNorm(torch::Tensor& grad, double max_norm, Communicator& comm);

}  // namespace moe::worker

#endif  // MOE_WORKER_TRAIN_GRAD_CLIP_H_
