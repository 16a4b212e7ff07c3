// resources.device: unspecified means a GPU when one is visible, else the CPU; cuda without a
// visible GPU (or past the last one, for LOCAL_RANK) is the user's error, naming the field.
#include "worker/parallel/device.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace moe::worker {
namespace {

using ::testing::HasSubstr;

TEST(ResolveDevice, CpuIsAlwaysTheCpu) {
  auto device = ResolveDevice(moe::v1::DEVICE_CPU, 3);
  ASSERT_TRUE(device.ok());
  EXPECT_TRUE(device->is_cpu());
}

TEST(ResolveDevice, UnspecifiedTakesTheGpuOfTheLocalRankWhenThereIsOne) {
  auto device = ResolveDevice(moe::v1::DEVICE_UNSPECIFIED, 0);
  ASSERT_TRUE(device.ok());
  if (torch::cuda::is_available()) {
    EXPECT_EQ(*device, torch::Device(torch::kCUDA, 0));
  } else {
    EXPECT_TRUE(device->is_cpu());
  }
}

TEST(ResolveDevice, CudaWithoutThatGpuIsAnErrorNamingTheField) {
  const int gpus = torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
  auto device = ResolveDevice(moe::v1::DEVICE_CUDA, gpus);  // one past the last GPU
  ASSERT_FALSE(device.ok());
  EXPECT_EQ(device.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(device.status().message()), HasSubstr("resources.device: cuda"));
  if (gpus > 0) {
    auto first = ResolveDevice(moe::v1::DEVICE_CUDA, 0);
    ASSERT_TRUE(first.ok());
    EXPECT_EQ(*first, torch::Device(torch::kCUDA, 0));
  }
}

TEST(BuildDescription, NamesLibTorchAndWhetherCudaIsCompiledIn) {
  const std::string text = BuildDescription();
  EXPECT_THAT(text, HasSubstr("LibTorch 2."));
#ifdef MOE_WITH_CUDA
  EXPECT_THAT(text, HasSubstr("CUDA"));
  EXPECT_THAT(text, HasSubstr("NCCL"));
#else
  EXPECT_THAT(text, HasSubstr("without CUDA"));
#endif
}

}  // namespace
}  // namespace moe::worker
