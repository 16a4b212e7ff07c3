// Admission by memory plan (server/memory_admission.h): a job short of memory by one byte is
// refused with the plan's words, at the memory it is tight (a warning), with room it is
// admitted silently; a job whose device is unset is planned on GPUs where moed knows of some;
// a Slurm job is planned against the Slurm flags only. After running out of memory, the advice
// names the plan's largest term and changes that leave a sixth free.
#include "server/memory_admission.h"

#include "common/spec_loader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plan/job_plan.h"

namespace moe::server {
namespace {

using ::testing::HasSubstr;

moe::v1::JobSpec Tiny() {
  return common::LoadJobSpec(std::string(MOE_SOURCE_DIR) + "/configs/jobs/tiny-cpu.yaml").value();
}

// What the tiny CPU job needs of its node.
int64_t NodeNeed(const moe::v1::JobSpec& spec) { return plan::PlanJob(spec, {}).value().need; }

TEST(AdmitByMemory, RefusesWithThePlansWordsWarnsWhenTightAndAdmitsWithRoom) {
  const moe::v1::JobSpec spec = Tiny();
  const int64_t need = NodeNeed(spec);
  ASSERT_GT(need, 0);
  MachineMemory memory;
  memory.local.host_bytes = need - 1;
  const auto refused = AdmitByMemory(spec, memory, false);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string why(refused.status().message());
  EXPECT_THAT(why, HasSubstr("does not fit in memory"));
  EXPECT_THAT(why, HasSubstr("per node"));
  EXPECT_THAT(why, HasSubstr("the largest device term"));
  EXPECT_THAT(why, HasSubstr("changes that fit"));
  memory.local.host_bytes = need;
  const auto tight = AdmitByMemory(spec, memory, false);
  ASSERT_TRUE(tight.ok()) << tight.status();
  ASSERT_TRUE(tight->has_value());
  EXPECT_THAT(**tight, HasSubstr("within 5%"));
  memory.local.host_bytes = 2 * need;
  EXPECT_EQ(AdmitByMemory(spec, memory, false).value(), std::nullopt);
  EXPECT_EQ(AdmitByMemory(spec, {}, false).value(), std::nullopt);  // nothing known
}

TEST(AdmitByMemory, AnUnsetDeviceIsAGpuWhereMoedKnowsOneAndSlurmUsesItsFlagsOnly) {
  moe::v1::JobSpec spec = Tiny();
  spec.mutable_resources()->clear_device();
  MachineMemory memory;
  memory.local.gpu_bytes = 1000;  // far too small for any GPU job
  memory.local.host_bytes = int64_t{1} << 40;
  const auto refused = AdmitByMemory(spec, memory, false);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("per GPU"));
  // The same job through Slurm: the local machine's memory says nothing of the partition's.
  EXPECT_EQ(AdmitByMemory(spec, memory, true).value(), std::nullopt);
  memory.slurm.host_bytes = 1000;  // CPU tasks (gpus_per_node 0) on nodes of 1000 bytes
  EXPECT_FALSE(AdmitByMemory(spec, memory, true).ok());
}

TEST(OutOfMemoryAdvice, NamesTheLargestTermAndChangesThatLeaveASixthFree) {
  moe::v1::JobSpec spec = Tiny();
  spec.mutable_resources()->set_device(moe::v1::DEVICE_CUDA);
  spec.mutable_data()->set_max_seq_len(256);
  spec.mutable_training()->set_micro_batch_size(8);  // activations dominate
  MachineMemory memory;
  memory.local.gpu_bytes = int64_t{80} << 30;
  const std::string advice = OutOfMemoryAdvice(spec, memory, false);
  EXPECT_THAT(advice, HasSubstr("the memory plan's largest term is activations"));
  EXPECT_THAT(advice, HasSubstr("model.activation_checkpointing: true"));
  EXPECT_THAT(advice, ::testing::Not(HasSubstr("resources.world_size")));  // does not cut it
}

}  // namespace
}  // namespace moe::server
