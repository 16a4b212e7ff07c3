// Global gradient-norm clipping over a (possibly sharded) fp32 gradient.
#ifndef MOE_WORKER_TRAIN_GRAD_CLIP_H_
#define MOE_WORKER_TRAIN_GRAD_CLIP_H_

#include <torch/torch.h>

#include "worker/dist/communicator.h"

namespace moe::worker {

// The L2 norm of the whole gradient: sqrt(all_reduce(sum of squares of `grad`)), where `grad`
// is this rank's part. If max_norm > 0 and the norm exceeds it, scales `grad` in place by
// max_norm / (norm + 1e-6). Returns the norm before clipping.
double ClipGradNorm(torch::Tensor& grad, double max_norm, Communicator& comm);

}  // namespace moe::worker

#endif  // MOE_WORKER_TRAIN_GRAD_CLIP_H_
