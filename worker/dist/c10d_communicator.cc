#include "worker/dist/c10d_communicator.h"

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/check.h"

namespace moe::worker {
namespace {

// Gloo in LibTorch 1.13 cannot reduce bf16: such tensors travel as fp32.
bool NeedsFp32(const torch::Tensor& t) { return t.scalar_type() == torch::kBFloat16; }

// c10d's work handle (ProcessGroup::Work in LibTorch 1.13, c10d::Work in 2.x).
template <typename Work>
class C10dPending : public PendingCollective {
 public:
  explicit C10dPending(c10::intrusive_ptr<Work> work) : work_(std::move(work)) {}
  void Wait() override { work_->wait(); }

 private:
  c10::intrusive_ptr<Work> work_;
};

template <typename Work>
std::unique_ptr<PendingCollective> Pending(c10::intrusive_ptr<Work> work) {
  return std::make_unique<C10dPending<Work>>(std::move(work));
}

}  // namespace

absl::StatusOr<std::unique_ptr<C10dCommunicator>> C10dCommunicator::Create(const LaunchEnv& env) {
  const std::chrono::milliseconds timeout = env.timeout;
  try {
    c10d::TCPStoreOptions options;
    options.port = env.master_port;
    options.isServer = env.rank == 0;
    options.numWorkers = static_cast<size_t>(env.world_size);
    options.waitWorkers = true;
    options.timeout = timeout;
    auto store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, options);
    auto gloo = c10d::ProcessGroupGloo::Options::create(timeout);
    gloo->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(env.master_addr));
    auto group = c10::make_intrusive<c10d::ProcessGroupGloo>(store, env.rank, env.world_size, gloo);
    return std::unique_ptr<C10dCommunicator>(
        new C10dCommunicator(env.rank, env.world_size, store, group));
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    const std::string where = absl::StrCat("rank ", env.rank, " of ", env.world_size, " at ",
                                           env.master_addr, ":", env.master_port, ": ");
    if (absl::StrContains(what, "imed out") || absl::StrContains(what, "imeout")) {
      return absl::DeadlineExceededError(absl::StrCat(where, "not every rank arrived within ",
                                                      timeout.count() / 1000.0, " s: ", what));
    }
    return absl::UnavailableError(absl::StrCat(where, what));
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("rendezvous at ", env.master_addr, ":", env.master_port, ": ", e.what()));
  }
}

void C10dCommunicator::AllReduceSum(torch::Tensor& tensor) {
  if (NeedsFp32(tensor)) {
    torch::Tensor wide = tensor.to(torch::kFloat32);
    AllReduceSum(wide);
    tensor.copy_(wide);
    return;
  }
  std::vector<torch::Tensor> tensors = {tensor};
  group_->allreduce(tensors)->wait();
}

void C10dCommunicator::ReduceScatterSum(const torch::Tensor& input, torch::Tensor& output) {
  torch::Tensor sum = input.to(torch::kFloat32, /*non_blocking=*/false, /*copy=*/true);
  AllReduceSum(sum);
  output.copy_(sum.narrow(0, rank_ * output.numel(), output.numel()));
}

void C10dCommunicator::AllGather(const torch::Tensor& input, torch::Tensor& output) {
  const torch::Tensor send = NeedsFp32(input) ? input.to(torch::kFloat32) : input.contiguous();
  std::vector<torch::Tensor> parts;
  for (int r = 0; r < world_size_; ++r) parts.push_back(torch::empty_like(send));
  std::vector<std::vector<torch::Tensor>> outputs = {parts};
  std::vector<torch::Tensor> inputs = {send};
  group_->allgather(outputs, inputs)->wait();
  output.copy_(torch::cat(outputs[0]));
}

std::unique_ptr<PendingCollective> C10dCommunicator::ReduceSumAsync(torch::Tensor& tensor,
                                                                    int root) {
  MOE_CHECK(!NeedsFp32(tensor), "ReduceSumAsync: Gloo cannot sum bf16; reduce fp32");
  std::vector<torch::Tensor> tensors = {tensor};
  c10d::ReduceOptions options;
  options.rootRank = root;
  return Pending(group_->reduce(tensors, options));
}

void C10dCommunicator::Broadcast(torch::Tensor& tensor, int root) {
  if (NeedsFp32(tensor)) {
    torch::Tensor wide = tensor.to(torch::kFloat32);
    Broadcast(wide, root);
    tensor.copy_(wide);
    return;
  }
  std::vector<torch::Tensor> tensors = {tensor};
  c10d::BroadcastOptions options;
  options.rootRank = root;
  group_->broadcast(tensors, options)->wait();
}

void C10dCommunicator::Barrier() { group_->barrier()->wait(); }

}  // namespace moe::worker
