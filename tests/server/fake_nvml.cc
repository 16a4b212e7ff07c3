// A stand-in for libnvidia-ml.so.1 with two fixed GPUs, so GpuMonitor and moed's GPU metrics
// are tested on machines without one. Values per device i: utilisation 37 + 20i %, memory
// (i + 1) x 10 GiB used of 80 GiB, 50 + i degrees, 300 + i W. A real GPU machine runs the same
// code against the real library (gpu-labelled tests).
#include <cstring>

namespace {
int devices[2];
}

extern "C" {
struct Utilization {
  unsigned int gpu, memory;
};
struct Memory {
  unsigned long long total, free, used;
};
int nvmlInit_v2() { return 0; }
int nvmlShutdown() { return 0; }
int nvmlDeviceGetCount_v2(unsigned int* count) {
  *count = 2;
  return 0;
}
int nvmlDeviceGetHandleByIndex_v2(unsigned int index, void** device) {
  if (index >= 2) return 2;  // NVML_ERROR_INVALID_ARGUMENT
  *device = &devices[index];
  return 0;
}
static int Index(void* device) { return static_cast<int*>(device) - devices; }
int nvmlDeviceGetUtilizationRates(void* device, Utilization* u) {
  u->gpu = 37 + 20 * Index(device);
  u->memory = 10;
  return 0;
}
int nvmlDeviceGetMemoryInfo(void* device, Memory* m) {
  m->total = 80ull << 30;
  m->used = (Index(device) + 1ull) * (10ull << 30);
  m->free = m->total - m->used;
  return 0;
}
int nvmlDeviceGetTemperature(void* device, int, unsigned int* celsius) {
  *celsius = 50 + Index(device);
  return 0;
}
int nvmlDeviceGetPowerUsage(void* device, unsigned int* milliwatts) {
  *milliwatts = 300000 + 1000 * Index(device);
  return 0;
}
}
