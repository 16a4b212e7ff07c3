// GPU readings through NVML, loaded at run time (dlopen of libnvidia-ml.so.1), so moed builds
// and runs without CUDA: where the library or a device is missing there are simply no GPUs.
#ifndef MOE_SERVER_GPU_MONITOR_H_
#define MOE_SERVER_GPU_MONITOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace moe::server {

struct GpuReading {
  int index = 0;
  double utilization = 0;  // 0..1, the last sample period
  uint64_t memory_used_bytes = 0, memory_total_bytes = 0;
  double temperature_celsius = 0;
  double power_watts = 0;
};

class GpuMonitor {
 public:
  // nullptr when `library` cannot be loaded, lacks a function, fails to initialise, or sees no
  // device (the reason is logged at debug level).
  static std::unique_ptr<GpuMonitor> Open(const std::string& library = "libnvidia-ml.so.1");
  ~GpuMonitor();  // nvmlShutdown, dlclose
  GpuMonitor(const GpuMonitor&) = delete;
  GpuMonitor& operator=(const GpuMonitor&) = delete;

  int device_count() const { return static_cast<int>(devices_.size()); }
  // One reading per device; a value NVML cannot give stays 0.
  std::vector<GpuReading> Read() const;

 private:
  struct Api;  // the NVML entry points
  GpuMonitor(void* handle, std::unique_ptr<Api> api, std::vector<void*> devices);

  void* handle_;  // from dlopen
  std::unique_ptr<Api> api_;
  std::vector<void*> devices_;  // nvmlDevice_t
};

}  // namespace moe::server

#endif  // MOE_SERVER_GPU_MONITOR_H_
