// How much memory a device's tensors take: CUDA's caching-allocator statistics on a GPU; on
// the CPU, a counting allocator that a process installs first (LibTorch's CPU allocator keeps
// no statistics of its own).
#ifndef MOE_WORKER_PARALLEL_MEMORY_STATS_H_
#define MOE_WORKER_PARALLEL_MEMORY_STATS_H_

#include <torch/torch.h>

#include <cstdint>

namespace moe::worker {

// Installs the counting CPU allocator (idempotent; tensors made before it are not counted).
void TrackCpuAllocations();

// The most bytes of tensor memory allocated at once on `device` since the last
// ResetPeakAllocated; -1 when not known (the CPU without TrackCpuAllocations).
int64_t PeakAllocatedBytes(torch::Device device);
void ResetPeakAllocated(torch::Device device);

}  // namespace moe::worker

#endif  // MOE_WORKER_PARALLEL_MEMORY_STATS_H_
