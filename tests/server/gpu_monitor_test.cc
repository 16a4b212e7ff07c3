// GpuMonitor: NVML absent is no error (no GPUs); through a stand-in NVML (fake_nvml.cc) the
// readings arrive converted to ratios, bytes, degrees and watts.
#include "server/gpu_monitor.h"

#include "gtest/gtest.h"

namespace moe::server {
namespace {

TEST(GpuMonitor, NoLibraryMeansNoGpusAndNoError) {
  EXPECT_EQ(GpuMonitor::Open("/nonexistent/libnvidia-ml.so.1"), nullptr);
  EXPECT_EQ(GpuMonitor::Open("libm.so.6"), nullptr);  // loads, but is not NVML
}

TEST(GpuMonitor, ReadsEveryDeviceInBaseUnits) {
  const auto gpus = GpuMonitor::Open(FAKE_NVML);
  ASSERT_NE(gpus, nullptr);
  ASSERT_EQ(gpus->device_count(), 2);
  const std::vector<GpuReading> readings = gpus->Read();
  ASSERT_EQ(readings.size(), 2u);
  EXPECT_EQ(readings[1].index, 1);
  EXPECT_DOUBLE_EQ(readings[0].utilization, 0.37);
  EXPECT_DOUBLE_EQ(readings[1].utilization, 0.57);
  EXPECT_EQ(readings[1].memory_used_bytes, 20ull << 30);
  EXPECT_EQ(readings[1].memory_total_bytes, 80ull << 30);
  EXPECT_DOUBLE_EQ(readings[1].temperature_celsius, 51);
  EXPECT_DOUBLE_EQ(readings[1].power_watts, 301);
}

}  // namespace
}  // namespace moe::server
