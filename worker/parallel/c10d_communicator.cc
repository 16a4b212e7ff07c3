#include "worker/parallel/c10d_communicator.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
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

struct C10dCommunicator::Group {
  LaunchEnv env;  // what a fork connects with
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> backend;
};

namespace {

class C10dPending : public PendingCollective {
 public:
  explicit C10dPending(c10::intrusive_ptr<c10d::Work> work) : work_(std::move(work)) {}
  void Wait() override { work_->wait(); }

 private:
  c10::intrusive_ptr<c10d::Work> work_;
};

// The process group for `device`: NCCL on a GPU, Gloo on the CPU.
c10::intrusive_ptr<c10d::Backend> MakeBackend(const LaunchEnv& env,
                                              const c10::intrusive_ptr<c10d::Store>& store,
                                              torch::Device device) {
  if (device.is_cuda()) {
#ifdef MOE_WITH_CUDA
    c10::cuda::set_device(device.index());
    auto options = c10d::ProcessGroupNCCL::Options::create();
    options->timeout = env.timeout;
    return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, env.rank, env.world_size, options);
#else
    MOE_CHECK(false, "a CUDA device in a build without CUDA");
#endif
  }
  auto options = c10d::ProcessGroupGloo::Options::create(env.timeout);
  options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(env.master_addr));
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, env.rank, env.world_size, options);
}

}  // namespace

C10dCommunicator::C10dCommunicator(int rank, int world_size, torch::Device device,
                                   std::unique_ptr<Group> group)
    : rank_(rank), world_size_(world_size), device_(device), group_(std::move(group)) {}

C10dCommunicator::~C10dCommunicator() = default;

namespace {

// What a failed rendezvous (the store, or a group's connections) says, naming this rank.
absl::Status RendezvousError(const LaunchEnv& env, const std::exception& e) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
  const std::string what = c10_error != nullptr ? c10_error->what_without_backtrace() : e.what();
  const std::string where = absl::StrCat("rank ", env.rank, " of ", env.world_size, " at ",
                                         env.master_addr, ":", env.master_port, ": ");
  if (absl::StrContains(what, "imed out") || absl::StrContains(what, "imeout")) {
    return absl::DeadlineExceededError(absl::StrCat(where, "not every rank arrived within ",
                                                    env.timeout.count() / 1000.0, " s: ", what));
  }
  return absl::UnavailableError(absl::StrCat(where, what));
}

}  // namespace

absl::StatusOr<std::unique_ptr<C10dCommunicator>> C10dCommunicator::Create(const LaunchEnv& env,
                                                                           torch::Device device) {
  try {
    c10d::TCPStoreOptions options;
    options.port = env.master_port;
    options.isServer = env.rank == 0;
    options.numWorkers = static_cast<size_t>(env.world_size);
    options.waitWorkers = true;
    options.timeout = env.timeout;
    auto group = std::make_unique<Group>();
    group->env = env;
    group->store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, options);
    group->backend = MakeBackend(env, group->store, device);
    return std::unique_ptr<C10dCommunicator>(
        new C10dCommunicator(env.rank, env.world_size, device, std::move(group)));
  } catch (const std::exception& e) {
    return RendezvousError(env, e);
  }
}

absl::StatusOr<std::unique_ptr<Communicator>> C10dCommunicator::ForkHostGroup(
    const std::string& name) {
  try {
    auto group = std::make_unique<Group>();
    group->env = group_->env;
    group->store = c10::make_intrusive<c10d::PrefixStore>(name, group_->store);
    group->backend = MakeBackend(group->env, group->store, torch::kCPU);
    return std::unique_ptr<Communicator>(
        new C10dCommunicator(rank_, world_size_, torch::kCPU, std::move(group)));
  } catch (const std::exception& e) {
    return RendezvousError(group_->env, e);
  }
}

void C10dCommunicator::AllReduceSum(torch::Tensor& tensor) {
  std::vector<torch::Tensor> tensors = {tensor};
  group_->backend->allreduce(tensors)->wait();
}

void C10dCommunicator::ReduceScatterSum(const torch::Tensor& input, torch::Tensor& output) {
  group_->backend->_reduce_scatter_base(output, const_cast<torch::Tensor&>(input))->wait();
}

void C10dCommunicator::AllGather(const torch::Tensor& input, torch::Tensor& output) {
  group_->backend->_allgather_base(output, const_cast<torch::Tensor&>(input))->wait();
}

std::unique_ptr<PendingCollective> C10dCommunicator::ReduceSumAsync(torch::Tensor& tensor,
                                                                    int root) {
  std::vector<torch::Tensor> tensors = {tensor};
  c10d::ReduceOptions options;
  options.rootRank = root;
  return std::make_unique<C10dPending>(group_->backend->reduce(tensors, options));
}

void C10dCommunicator::Broadcast(torch::Tensor& tensor, int root) {
  std::vector<torch::Tensor> tensors = {tensor};
  c10d::BroadcastOptions options;
  options.rootRank = root;
  group_->backend->broadcast(tensors, options)->wait();
}

void C10dCommunicator::Barrier() {
  c10d::BarrierOptions options;
  if (device_.is_cuda()) options.device_ids = {device_.index()};
  group_->backend->barrier(options)->wait();
}

}  // namespace moe::worker
