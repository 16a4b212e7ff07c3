// Which device a worker trains on: resources.device of the job spec, and LOCAL_RANK for the
// GPU among those the process sees.
#ifndef MOE_WORKER_PARALLEL_DEVICE_H_
#define MOE_WORKER_PARALLEL_DEVICE_H_

#include <torch/torch.h>

#include <string>

#include "absl/status/statusor.h"
#include "moe/v1/job.pb.h"

namespace moe::worker {

// DEVICE_UNSPECIFIED: GPU `local_rank` when this build has CUDA and a GPU is visible, else the
// CPU (with GPUs visible but none for local_rank: InvalidArgument, as a rank silently on the
// CPU beside ranks on GPUs is never meant). DEVICE_CUDA: GPU `local_rank`, or InvalidArgument
// naming resources.device when none is visible (or fewer than local_rank + 1), before any
// work. DEVICE_CPU: the CPU.
absl::StatusOr<torch::Device> ResolveDevice(moe::v1::Device wanted, int local_rank);

// What this binary was built with and sees, e.g. "LibTorch 2.11.0, CUDA 13.0 and NCCL 2.28.9
// compiled in, 0 GPU(s) visible" (or "..., built without CUDA").
std::string BuildDescription();

}  // namespace moe::worker

#endif  // MOE_WORKER_PARALLEL_DEVICE_H_
