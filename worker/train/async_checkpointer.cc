#include "worker/train/async_checkpointer.h"

#include <exception>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/steady_seconds.h"
#include "worker/train/checkpoint.h"

namespace moe::worker {

AsyncCheckpointer::AsyncCheckpointer(std::filesystem::path output_dir,
                                     std::unique_ptr<Communicator> comm)
    : output_dir_(std::move(output_dir)), comm_(std::move(comm)) {}

AsyncCheckpointer::~AsyncCheckpointer() { (void)Wait(); }  // dropped: see the header

void AsyncCheckpointer::Start(CheckpointSnapshot snapshot) {
  MOE_CHECK(!in_flight(), "a checkpoint save started before the previous one was collected");
  snapshot_ = std::move(snapshot);
  started_ = common::SteadySeconds();
  done_ = false;
  cancel_ = false;
  thread_ = std::thread([this] { Write(); });
}

void AsyncCheckpointer::Write() {
  outcome_ = Outcome{snapshot_.step, absl::UnknownError("not written"), 0};
  try {
    outcome_.saved = WriteCheckpoint(output_dir_, snapshot_, *comm_, &cancel_);
  } catch (const std::exception& e) {  // a collective failed: a peer died or timed out
    outcome_.saved = absl::InternalError(absl::StrCat("checkpoint of step ", snapshot_.step, ": ",
                                                      e.what(), "; nothing was committed"));
  }
  outcome_.seconds = common::SteadySeconds() - started_;
  done_ = true;
}

double AsyncCheckpointer::InFlightSeconds() const {
  return in_flight() ? common::SteadySeconds() - started_ : 0;
}

std::optional<AsyncCheckpointer::Outcome> AsyncCheckpointer::Poll() {
  if (!in_flight() || !done_) return std::nullopt;
  return Wait();
}

std::optional<AsyncCheckpointer::Outcome> AsyncCheckpointer::Wait() {
  if (!in_flight()) return std::nullopt;
  thread_.join();
  return std::move(outcome_);
}

}  // namespace moe::worker
