#include "worker/dist/c10d_communicator.h"

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/check.h"

#ifdef MOE_WITH_CUDA
#include <c10/cuda/CUDAFunctions.h>

#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace moe::worker {
namespace {

// c10d's work handle (ProcessGroup::Work in LibTorch 1.13, c10d::Work in 2.x).
template <typename Work>
class C10dPending : public PendingCollective {
 public:
  C10dPending(c10::intrusive_ptr<Work> work, std::function<void()> then)
      : work_(std::move(work)), then_(std::move(then)) {}
  void Wait() override {
    work_->wait();
    if (then_) then_();
  }

 private:
  c10::intrusive_ptr<Work> work_;
  std::function<void()> then_;  // copies a staged result back
};

template <typename Work>
std::unique_ptr<PendingCollective> Pending(c10::intrusive_ptr<Work> work,
                                           std::function<void()> then = nullptr) {
  return std::make_unique<C10dPending<Work>>(std::move(work), std::move(then));
}

// The process group for `env`: NCCL on LOCAL_RANK's GPU when this build and machine have one.
c10::intrusive_ptr<C10dBackend> MakeGroup(const LaunchEnv& env,
                                          const c10::intrusive_ptr<c10d::Store>& store,
                                          torch::Device* device) {
#ifdef MOE_WITH_CUDA
  if (torch::cuda::is_available()) {
    c10::cuda::set_device(static_cast<c10::DeviceIndex>(env.local_rank));
    *device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank));
    auto options = c10d::ProcessGroupNCCL::Options::create();
    options->timeout = env.timeout;
    return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, env.rank, env.world_size, options);
  }
#endif
  *device = torch::kCPU;
  auto options = c10d::ProcessGroupGloo::Options::create(env.timeout);
  options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(env.master_addr));
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, env.rank, env.world_size, options);
}

}  // namespace

absl::StatusOr<std::unique_ptr<C10dCommunicator>> C10dCommunicator::Create(const LaunchEnv& env) {
  try {
    c10d::TCPStoreOptions options;
    options.port = env.master_port;
    options.isServer = env.rank == 0;
    options.numWorkers = static_cast<size_t>(env.world_size);
    options.waitWorkers = true;
    options.timeout = env.timeout;
    auto store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, options);
    torch::Device device = torch::kCPU;
    auto group = MakeGroup(env, store, &device);
    return std::unique_ptr<C10dCommunicator>(
        new C10dCommunicator(env.rank, env.world_size, device, store, group));
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    const std::string where = absl::StrCat("rank ", env.rank, " of ", env.world_size, " at ",
                                           env.master_addr, ":", env.master_port, ": ");
    if (absl::StrContains(what, "imed out") || absl::StrContains(what, "imeout")) {
      return absl::DeadlineExceededError(absl::StrCat(where, "not every rank arrived within ",
                                                      env.timeout.count() / 1000.0, " s: ", what));
    }
    return absl::UnavailableError(absl::StrCat(where, what));
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("rendezvous at ", env.master_addr, ":", env.master_port, ": ", e.what()));
  }
}

torch::Tensor C10dCommunicator::Stage(const torch::Tensor& t) const {
  if (nccl()) return t.device() == device_ ? t.contiguous() : t.to(device_);
  return t.scalar_type() == torch::kBFloat16 ? t.to(torch::kFloat32) : t.contiguous();
}

void C10dCommunicator::Unstage(const torch::Tensor& staged, torch::Tensor& t) {
  if (!staged.is_same(t)) t.copy_(staged);
}

void C10dCommunicator::AllReduceSum(torch::Tensor& tensor) {
  std::vector<torch::Tensor> tensors = {Stage(tensor)};
  group_->allreduce(tensors)->wait();
  Unstage(tensors[0], tensor);
}

void C10dCommunicator::ReduceScatterSum(const torch::Tensor& input, torch::Tensor& output) {
  if (nccl()) {
    torch::Tensor out = Stage(output);
    group_->_reduce_scatter_base(out, const_cast<torch::Tensor&>(input))->wait();
    Unstage(out, output);
    return;
  }
  torch::Tensor sum = input.to(torch::kFloat32, /*non_blocking=*/false, /*copy=*/true);
  AllReduceSum(sum);
  output.copy_(sum.narrow(0, rank_ * output.numel(), output.numel()));
}

void C10dCommunicator::AllGather(const torch::Tensor& input, torch::Tensor& output) {
  const torch::Tensor send = Stage(input);
  std::vector<torch::Tensor> parts;
  for (int r = 0; r < world_size_; ++r) parts.push_back(torch::empty_like(send));
  std::vector<std::vector<torch::Tensor>> outputs = {parts};
  std::vector<torch::Tensor> inputs = {send};
  group_->allgather(outputs, inputs)->wait();
  output.copy_(torch::cat(outputs[0]));
}

std::unique_ptr<PendingCollective> C10dCommunicator::ReduceSumAsync(torch::Tensor& tensor,
                                                                    int root) {
  MOE_CHECK(nccl() || tensor.scalar_type() != torch::kBFloat16,
            "ReduceSumAsync: Gloo cannot sum bf16; reduce fp32");
  std::vector<torch::Tensor> tensors = {Stage(tensor)};
  c10d::ReduceOptions options;
  options.rootRank = root;
  auto work = group_->reduce(tensors, options);
  if (tensors[0].is_same(tensor)) return Pending(std::move(work));
  return Pending(std::move(work),
                 [staged = tensors[0], tensor]() mutable { Unstage(staged, tensor); });
}

void C10dCommunicator::Broadcast(torch::Tensor& tensor, int root) {
  std::vector<torch::Tensor> tensors = {Stage(tensor)};
  c10d::BroadcastOptions options;
  options.rootRank = root;
  group_->broadcast(tensors, options)->wait();
  Unstage(tensors[0], tensor);
}

void C10dCommunicator::Barrier() { group_->barrier()->wait(); }

}  // namespace moe::worker
