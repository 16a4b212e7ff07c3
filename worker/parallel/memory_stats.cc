#include "worker/parallel/memory_stats.h"

#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>

#include <algorithm>
#include <atomic>

#ifdef MOE_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace moe::worker {
namespace {

// LibTorch's CPU allocation (alloc_cpu, 64-byte aligned), counting the bytes of live
// allocations. Each block carries its size in a 64-byte header before the data, so the data
// pointer is its own deleter context, as LibTorch expects of CPU allocations.
class CountingCpuAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t bytes) override {
    auto* base = static_cast<char*>(c10::alloc_cpu(bytes + kHeader));
    *reinterpret_cast<size_t*>(base) = bytes;
    Count(static_cast<int64_t>(bytes));
    void* data = base + kHeader;
    return {data, data, &Free, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &Free; }
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }

  int64_t peak() const { return peak_; }
  void ResetPeak() { peak_ = current_.load(); }

 private:
  static constexpr size_t kHeader = 64;  // keeps the data 64-byte aligned
  static void Free(void* data);
  void Count(int64_t bytes) {
    const int64_t now = current_ += bytes;
    int64_t peak = peak_.load();
    while (now > peak && !peak_.compare_exchange_weak(peak, now)) {
    }
  }

  std::atomic<int64_t> current_{0}, peak_{0};
};

CountingCpuAllocator* counting = nullptr;  // installed once, never freed (tensors may outlive)

}  // namespace

void CountingCpuAllocator::Free(void* data) {
  char* base = static_cast<char*>(data) - kHeader;
  counting->Count(-static_cast<int64_t>(*reinterpret_cast<size_t*>(base)));
  c10::free_cpu(base);
}

void TrackCpuAllocations() {
  static CountingCpuAllocator* const installed = [] {
    auto* allocator = new CountingCpuAllocator();
    c10::SetCPUAllocator(allocator, /*priority=*/100);
    counting = allocator;
    return allocator;
  }();
  (void)installed;
}

int64_t PeakAllocatedBytes(torch::Device device) {
#ifdef MOE_WITH_CUDA
  if (device.is_cuda()) {
    return c10::cuda::CUDACachingAllocator::getDeviceStats(device.index()).allocated_bytes[0].peak;
  }
#endif
  return device.is_cpu() && counting != nullptr ? counting->peak() : -1;
}

void ResetPeakAllocated(torch::Device device) {
#ifdef MOE_WITH_CUDA
  if (device.is_cuda()) {
    c10::cuda::CUDACachingAllocator::resetPeakStats(device.index());
    return;
  }
#endif
  if (device.is_cpu() && counting != nullptr) counting->ResetPeak();
}

}  // namespace moe::worker
