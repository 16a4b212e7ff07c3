// How all ranks agree, once per optimizer step, on whether to stop after it: a stop requested
// on any rank (SIGTERM, moed's stop request) stops every rank at the same step.
//
// On the CPU the local flags are summed at once. On GPUs the sum is taken on the device and
// copied to pinned host memory without blocking, and read one step later (when it is long
// done), so agreeing never makes the host wait for the device: every rank still reads the same
// sum at the same step, so they stop together, one step after the request.
#ifndef MOE_WORKER_TRAIN_STOP_AGREEMENT_H_
#define MOE_WORKER_TRAIN_STOP_AGREEMENT_H_

#include <c10/core/Event.h>
#include <torch/torch.h>

#include <atomic>
#include <optional>

#include "worker/parallel/communicator.h"

namespace moe::worker {

class StopAgreement {
 public:
  // `requested` (may be null: never stop) and `comm` must outlive this.
  StopAgreement(const std::atomic<bool>* requested, Communicator& comm);

  // Collective, once per step on every rank: whether all ranks stop after this step.
  bool ShouldStop();

 private:
  const std::atomic<bool>* const requested_;
  Communicator& comm_;
  torch::Tensor host_;                // pinned [1]: the previous step's sum (GPUs)
  std::optional<c10::Event> copied_;  // recorded after host_'s copy was queued
};

}  // namespace moe::worker

#endif  // MOE_WORKER_TRAIN_STOP_AGREEMENT_H_
