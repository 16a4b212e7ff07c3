#include "worker/train/stop_agreement.h"

#include <c10/core/impl/DeviceGuardImplInterface.h>

namespace moe::worker {

StopAgreement::StopAgreement(const std::atomic<bool>* requested, Communicator& comm)
    : requested_(requested), comm_(comm) {}

bool StopAgreement::ShouldStop() {
  if (requested_ == nullptr) return false;
  const bool mine = requested_->load();
  if (comm_.world_size() == 1) return mine;
  const torch::Device device = comm_.device();
  torch::Tensor any =
      torch::full({1}, mine ? 1.0f : 0.0f, torch::dtype(torch::kFloat32).device(device));
  comm_.AllReduceSum(any);
  if (device.is_cpu()) return any.item<float>() > 0;

  bool stop = false;
  if (copied_.has_value()) {  // the previous step's sum: queued a whole step ago
    copied_->synchronize();
    stop = host_.item<float>() > 0;
  } else {
    host_ = torch::empty({1}, torch::dtype(torch::kFloat32).pinned_memory(true));  // host
    copied_.emplace(device.type());
  }
  host_.copy_(any, /*non_blocking=*/true);
  copied_->record(c10::impl::getDeviceGuardImpl(device.type())->getStream(device));
  return stop;
}

}  // namespace moe::worker
