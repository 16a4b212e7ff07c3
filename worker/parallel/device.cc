#include "worker/parallel/device.h"

#include <torch/version.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"

#ifdef MOE_WITH_CUDA
#include <cuda_runtime_api.h>
#include <nccl.h>
#endif

namespace moe::worker {
namespace {

int VisibleGpus() {
#ifdef MOE_WITH_CUDA
  return torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
#else
  return 0;
#endif
}

}  // namespace

absl::StatusOr<torch::Device> ResolveDevice(moe::v1::Device wanted, int local_rank) {
  if (wanted == moe::v1::DEVICE_CPU) return torch::Device(torch::kCPU);
  const int gpus = VisibleGpus();
  if (wanted == moe::v1::DEVICE_UNSPECIFIED && gpus == 0) return torch::Device(torch::kCPU);
  if (gpus == 0 || local_rank >= gpus) {
    const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
    return absl::InvalidArgumentError(absl::StrCat(
        "resources.device: ",
        wanted == moe::v1::DEVICE_CUDA ? "cuda" : "unset (a GPU when one is visible)", ", but ",
        gpus == 0 ? std::string("no GPU is visible to this worker")
                  : absl::StrCat("LOCAL_RANK ", local_rank, " has no GPU (", gpus, " visible)"),
        " (CUDA_VISIBLE_DEVICES=", visible == nullptr ? "unset" : visible, "; ", BuildDescription(),
        "); use device: cpu, or run where the GPUs are"));
  }
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(local_rank));
}

std::string BuildDescription() {
  std::string out = absl::StrCat("LibTorch ", TORCH_VERSION);
#ifdef MOE_WITH_CUDA
  absl::StrAppend(&out, ", CUDA ", CUDART_VERSION / 1000, ".", CUDART_VERSION % 1000 / 10,
                  " and NCCL ", NCCL_MAJOR, ".", NCCL_MINOR, ".", NCCL_PATCH, " compiled in, ",
                  VisibleGpus(), " GPU(s) visible");
#else
  absl::StrAppend(&out, ", built without CUDA");
#endif
  return out;
}

}  // namespace moe::worker
