// The worker on a GPU (ctest label gpu; each case skips without one): the CUDA model equals
// the CPU one; a one-GPU run stopped and resumed ends byte-identical to an uninterrupted one;
// ZeRO-2 over NCCL (world size 1) trains exactly as the local path; the peak of CUDA memory is
// within 10 % of the memory plan; and no training step but a logging one makes the host wait
// for the device (CUDA's sync debug mode counts every synchronising call).
#include <c10/util/Exception.h>
#include <torch/torch.h>

#include <atomic>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "tests/testing/model_test_util.h"
#include "tests/testing/train_test_util.h"
#include "worker/model/mpt_model.h"
#include "worker/model/safetensors.h"
#include "worker/parallel/c10d_communicator.h"
#include "worker/parallel/communicator.h"
#include "worker/parallel/memory_stats.h"
#include "worker/train/checkpoint.h"
#include "worker/train/trainer.h"

#ifdef MOE_WITH_CUDA
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace moe::worker {
namespace {

namespace fs = std::filesystem;

#define SKIP_WITHOUT_GPU()                                              \
  do {                                                                  \
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no GPU visible"; \
  } while (0)

const torch::Device kGpu(torch::kCUDA, 0);

std::string Bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

moe::v1::JobSpec GpuJob(const fs::path& out, bool bf16) {
  moe::v1::JobSpec spec = testing::SmallJob(out);
  spec.mutable_resources()->set_device(moe::v1::DEVICE_CUDA);
  spec.mutable_model()->set_precision(bf16 ? moe::v1::PRECISION_BF16 : moe::v1::PRECISION_FP32);
  spec.mutable_logging()->set_tensorboard(false);
  return spec;
}

// Trains `spec` on `comm` to its end (or stop_after_steps); returns the trainer's status.
absl::Status Train(const moe::v1::JobSpec& spec, Communicator& comm, TrainOptions options = {},
                   ProgressSink* sink = nullptr) {
  testing::RecordingProgress recording;
  auto trainer = Trainer::Create(spec, options, comm, sink != nullptr ? *sink : recording);
  if (!trainer.ok()) return trainer.status();
  return (*trainer)->Run();
}

TEST(Gpu, ForwardAndBackwardEqualTheCpu) {
  SKIP_WITHOUT_GPU();
  const moe::v1::MptConfig config = testing::SmallConfig(64, 4, 2);
  for (const auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    MptForCausalLM cpu(config, testing::MoeSpecOf(4, 2)),
        gpu(config, testing::MoeSpecOf(4, 2), torch::dtype(dtype).device(kGpu));
    cpu->InitializeWeights(7);
    gpu->InitializeWeights(7);  // drawn on the CPU: the same weights (rounded to bf16)
    torch::manual_seed(8);
    const torch::Tensor ids = torch::randint(config.vocab_size(), {3, 24});
    const torch::Tensor labels = torch::randint(config.vocab_size(), {3, 24});
    const ModelOutput a = cpu->forward({ids, {}, {}});
    const ModelOutput b = gpu->forward({ids.to(kGpu), {}, {}});
    const double tolerance = dtype == torch::kFloat32 ? 1e-4 : 5e-2;
    const torch::Tensor logits = b.logits_BTV.to(torch::kCPU, torch::kFloat32);
    EXPECT_LT((logits - a.logits_BTV).abs().max().item<double>(),
              tolerance * std::max(1.0, a.logits_BTV.abs().max().item<double>()))
        << "dtype " << dtype;
    (SummedCrossEntropy(a.logits_BTV, labels) / 72 + a.aux_loss).backward();
    (SummedCrossEntropy(b.logits_BTV, labels.to(kGpu)) / 72 + b.aux_loss).backward();
    const auto cpu_params = cpu->named_parameters(), gpu_params = gpu->named_parameters();
    for (const auto& item : cpu_params) {
      const torch::Tensor expected = item.value().grad();
      const torch::Tensor got = gpu_params[item.key()].grad();
      ASSERT_EQ(expected.defined(), got.defined()) << item.key();
      if (!expected.defined()) continue;
      const double scale = std::max(1e-3, expected.abs().max().item<double>());
      EXPECT_LT((got.to(torch::kCPU, torch::kFloat32) - expected).abs().max().item<double>(),
                (dtype == torch::kFloat32 ? 1e-4 : 1e-1) * scale)
          << item.key() << " dtype " << dtype;
    }
  }
}

TEST(Gpu, StoppedAndResumedRunEndsByteIdentical) {
  SKIP_WITHOUT_GPU();
  const fs::path root = testing::FreshDir("gpu_resume");
  LocalCommunicator gpu(kGpu);
  for (bool bf16 : {false, true}) {
    const std::string tag = bf16 ? "bf16" : "fp32";
    moe::v1::JobSpec full = GpuJob(root / ("full_" + tag), bf16);
    moe::v1::JobSpec split = GpuJob(root / ("split_" + tag), bf16);
    full.mutable_training()->set_max_steps(8);
    split.mutable_training()->set_max_steps(8);
    ASSERT_TRUE(Train(full, gpu).ok());
    TrainOptions stop;
    stop.stop_after_steps = 4;
    ASSERT_TRUE(Train(split, gpu, stop).ok());
    TrainOptions resume;
    resume.resume_from = "latest";
    ASSERT_TRUE(Train(split, gpu, resume).ok());
    const std::string last = CheckpointName(8);
    for (const char* file : {"model.safetensors", "optimizer-00000-of-00001.safetensors"}) {
      EXPECT_EQ(Bytes(root / ("full_" + tag) / last / file),
                Bytes(root / ("split_" + tag) / last / file))
          << tag << " " << file;
    }
  }
}

TEST(Gpu, ZeroTwoOverNcclEqualsTheLocalPath) {
  SKIP_WITHOUT_GPU();
  const fs::path root = testing::FreshDir("gpu_nccl");
  LaunchEnv env;
  env.world_size = 1;
  env.master_port = static_cast<uint16_t>(20000 + getpid() % 20000);
  auto nccl = C10dCommunicator::Create(env, kGpu);
  ASSERT_TRUE(nccl.ok()) << nccl.status();
  LocalCommunicator local(kGpu);
  moe::v1::JobSpec a = GpuJob(root / "nccl", true), b = GpuJob(root / "local", true);
  for (auto* spec : {&a, &b}) spec->mutable_training()->set_max_steps(6);
  ASSERT_TRUE(Train(a, **nccl).ok());
  ASSERT_TRUE(Train(b, local).ok());
  EXPECT_EQ(Bytes(root / "nccl" / CheckpointName(6) / "model.safetensors"),
            Bytes(root / "local" / CheckpointName(6) / "model.safetensors"));
}

TEST(Gpu, OffloadedOptimizerTrainsLikeTheOneOnTheDevice) {
  // fp32: the host step and the host partition gradient (through pinned staging) against the
  // device tensor path.
  SKIP_WITHOUT_GPU();
  const fs::path root = testing::FreshDir("gpu_offload");
  LocalCommunicator gpu(kGpu);
  moe::v1::JobSpec device = GpuJob(root / "device", false), host = GpuJob(root / "host", false);
  host.mutable_zero()->set_offload_optimizer(moe::v1::OFFLOAD_DEVICE_CPU);
  for (auto* spec : {&device, &host}) spec->mutable_training()->set_max_steps(6);
  ASSERT_TRUE(Train(device, gpu).ok());
  ASSERT_TRUE(Train(host, gpu).ok());
  for (const char* file : {"model.safetensors", "optimizer-00000-of-00001.safetensors"}) {
    auto a = SafetensorsFile::Open(root / "device" / CheckpointName(6) / file);
    auto b = SafetensorsFile::Open(root / "host" / CheckpointName(6) / file);
    ASSERT_TRUE(a.ok() && b.ok());
    for (const auto& [name, entry] : (*a)->entries()) {
      const torch::Tensor x = *(*a)->Load(name), y = *(*b)->Load(name);
      EXPECT_LT(((x - y).norm() / x.norm().clamp_min(1e-30)).item<double>(), 1e-6) << name;
    }
  }
}

TEST(Gpu, PeakMemoryIsWithinTenPercentOfThePlan) {
  SKIP_WITHOUT_GPU();
  moe::v1::JobSpec spec = GpuJob(testing::FreshDir("gpu_memory"), true);
  moe::v1::MptConfig* c = spec.mutable_model()->mutable_config();
  c->set_d_model(1024);
  c->set_n_heads(8);
  c->set_n_layers(4);
  c->set_max_seq_len(1024);
  spec.mutable_data()->set_max_seq_len(1024);
  spec.mutable_data()->set_max_samples(400);
  spec.mutable_training()->set_micro_batch_size(4);
  spec.mutable_training()->set_max_steps(3);
  spec.mutable_checkpoint()->set_save_at_epoch_end(false);
  LocalCommunicator gpu(kGpu);
  testing::RecordingProgress progress;
  auto trainer = Trainer::Create(spec, {}, gpu, progress);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  ASSERT_TRUE((*trainer)->Run().ok());
  const double peak = static_cast<double>(PeakAllocatedBytes(kGpu));
  const double stated = static_cast<double>((*trainer)->memory_plan().total());
  EXPECT_NEAR(peak / stated, 1.0, 0.10)
      << "measured " << peak / 1e9 << " GB, planned " << stated / 1e9 << " GB:\n"
      << (*trainer)->memory_plan().Table();
}

#ifdef MOE_WITH_CUDA
// Counts CUDA's "called a synchronizing CUDA operation" warnings, and the step reports.
class SyncCounter : public c10::WarningHandler, public testing::RecordingProgress {
 public:
  void process(const c10::Warning& warning) override {
    if (warning.msg().find("synchroniz") != std::string::npos) ++syncs;
  }
  void OnStep(const StepReport& report) override {
    syncs_at_report.push_back(syncs.load());
    RecordingProgress::OnStep(report);
  }
  std::atomic<int> syncs{0};
  std::vector<int> syncs_at_report;
};
#endif

TEST(Gpu, OnlyLoggingStepsWaitForTheDevice) {
  SKIP_WITHOUT_GPU();
#ifdef MOE_WITH_CUDA
  moe::v1::JobSpec spec = GpuJob(testing::FreshDir("gpu_syncs"), true);
  spec.mutable_training()->set_max_steps(15);
  spec.mutable_logging()->set_logging_steps(5);
  spec.mutable_checkpoint()->set_save_at_epoch_end(false);
  spec.mutable_data()->set_max_samples(400);
  LocalCommunicator gpu(kGpu);
  SyncCounter counter;
  c10::WarningUtils::WarningHandlerGuard guard(&counter);
  c10::cuda::warning_state().set_sync_debug_mode(c10::cuda::SyncDebugMode::L_WARN);
  const absl::Status trained = Train(spec, gpu, {}, &counter);
  c10::cuda::warning_state().set_sync_debug_mode(c10::cuda::SyncDebugMode::L_DISABLED);
  ASSERT_TRUE(trained.ok()) << trained;
  ASSERT_EQ(counter.syncs_at_report.size(), 3u);
  // Between the reports of steps 5 and 10 run five steps and one report: were any step to
  // wait for the device, there would be at least five waits.
  const int between = counter.syncs_at_report[1] - counter.syncs_at_report[0];
  EXPECT_LE(between, 1) << "host waits for the device between two reports five steps apart";
  EXPECT_GE(between, 1) << "the sync debug mode counted nothing: the test sees nothing";
#endif
}

}  // namespace
}  // namespace moe::worker
