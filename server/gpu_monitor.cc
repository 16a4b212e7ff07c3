#include "server/gpu_monitor.h"

#include <dlfcn.h>

#include "common/logging.h"

namespace moe::server {
namespace {

// NVML's C ABI, as far as moed uses it (nvml.h: nvmlReturn_t is an int enum, 0 = success;
// nvmlDevice_t is an opaque pointer).
constexpr int kNvmlSuccess = 0;
constexpr int kNvmlTemperatureGpu = 0;
struct NvmlUtilization {
  unsigned int gpu, memory;  // percent
};
struct NvmlMemory {
  unsigned long long total, free, used;  // bytes
};

}  // namespace

struct GpuMonitor::Api {
  int (*init)();
  int (*shutdown)();
  int (*count)(unsigned int*);
  int (*handle_by_index)(unsigned int, void**);
  int (*utilization)(void*, NvmlUtilization*);
  int (*memory)(void*, NvmlMemory*);
  int (*temperature)(void*, int, unsigned int*);
  int (*power)(void*, unsigned int*);  // milliwatts
};

std::unique_ptr<GpuMonitor> GpuMonitor::Open(const std::string& library) {
  void* handle = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    spdlog::debug("no GPU metrics: {}", dlerror());
    return nullptr;
  }
  auto api = std::make_unique<Api>();
  bool complete = true;
  auto bind = [&](auto& function, const char* name) {
    function = reinterpret_cast<std::remove_reference_t<decltype(function)>>(dlsym(handle, name));
    complete &= function != nullptr;
  };
  bind(api->init, "nvmlInit_v2");
  bind(api->shutdown, "nvmlShutdown");
  bind(api->count, "nvmlDeviceGetCount_v2");
  bind(api->handle_by_index, "nvmlDeviceGetHandleByIndex_v2");
  bind(api->utilization, "nvmlDeviceGetUtilizationRates");
  bind(api->memory, "nvmlDeviceGetMemoryInfo");
  bind(api->temperature, "nvmlDeviceGetTemperature");
  bind(api->power, "nvmlDeviceGetPowerUsage");
  unsigned int count = 0;
  if (!complete || api->init() != kNvmlSuccess) {
    spdlog::debug("no GPU metrics: {} is incomplete or failed to initialise", library);
    dlclose(handle);
    return nullptr;
  }
  std::vector<void*> devices;
  if (api->count(&count) == kNvmlSuccess) {
    for (unsigned int i = 0; i < count; ++i) {
      void* device = nullptr;
      if (api->handle_by_index(i, &device) == kNvmlSuccess) devices.push_back(device);
    }
  }
  if (devices.empty()) {
    api->shutdown();
    dlclose(handle);
    return nullptr;
  }
  return std::unique_ptr<GpuMonitor>(new GpuMonitor(handle, std::move(api), std::move(devices)));
}

GpuMonitor::GpuMonitor(void* handle, std::unique_ptr<Api> api, std::vector<void*> devices)
    : handle_(handle), api_(std::move(api)), devices_(std::move(devices)) {}

GpuMonitor::~GpuMonitor() {
  api_->shutdown();
  dlclose(handle_);
}

std::vector<GpuReading> GpuMonitor::Read() const {
  std::vector<GpuReading> readings;
  for (size_t i = 0; i < devices_.size(); ++i) {
    GpuReading r;
    r.index = static_cast<int>(i);
    NvmlUtilization utilization{};
    if (api_->utilization(devices_[i], &utilization) == kNvmlSuccess) {
      r.utilization = utilization.gpu / 100.0;
    }
    NvmlMemory memory{};
    if (api_->memory(devices_[i], &memory) == kNvmlSuccess) {
      r.memory_used_bytes = memory.used;
      r.memory_total_bytes = memory.total;
    }
    unsigned int value = 0;
    if (api_->temperature(devices_[i], kNvmlTemperatureGpu, &value) == kNvmlSuccess) {
      r.temperature_celsius = value;
    }
    if (api_->power(devices_[i], &value) == kNvmlSuccess) r.power_watts = value / 1000.0;
    readings.push_back(r);
  }
  return readings;
}

}  // namespace moe::server
