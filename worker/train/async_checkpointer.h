// Asynchronous checkpoint saves (checkpoint.async). At a save step the training thread takes
// a host snapshot of its rank's part (TakeSnapshot, kHostCopy) and hands it here; a background
// thread writes and commits it (WriteCheckpoint, the same protocol as a synchronous save) over
// a communicator of its own, while training goes on. One save is in flight at a time: the
// next one waits for the previous commit. The outcome is collected on the training thread
// (Poll, Wait) and reported from there, so progress sinks, and through them the catalogue,
// only ever hear of committed checkpoints, from one thread.
//
// A process killed while a save is in flight leaves its `.tmp` directory, never a committed
// checkpoint: the previous committed one stays the newest.
#ifndef MOE_WORKER_TRAIN_ASYNC_CHECKPOINTER_H_
#define MOE_WORKER_TRAIN_ASYNC_CHECKPOINTER_H_

#include <atomic>
#include <filesystem>
#include <memory>
#include <optional>
#include <thread>

#include "absl/status/statusor.h"
#include "worker/parallel/communicator.h"
#include "worker/train/checkpoint_snapshot.h"

namespace moe::worker {

class AsyncCheckpointer {
 public:
  struct Outcome {
    int64_t step = 0;
    absl::StatusOr<std::filesystem::path> saved;  // the committed directory, or why not
    double seconds = 0;                           // from Start to the commit
  };

  // `comm` is this checkpointer's own (Communicator::ForkHostGroup): only its thread uses it.
  AsyncCheckpointer(std::filesystem::path output_dir, std::unique_ptr<Communicator> comm);
  // Waits for the save in flight; its outcome is dropped (the caller collects it first to
  // report it).
  ~AsyncCheckpointer();

  AsyncCheckpointer(const AsyncCheckpointer&) = delete;
  AsyncCheckpointer& operator=(const AsyncCheckpointer&) = delete;

  // Starts writing `snapshot` in the background. Collective (every rank starts the same
  // step's save). The previous save must have been collected (Wait).
  void Start(CheckpointSnapshot snapshot);
  bool in_flight() const { return thread_.joinable(); }
  // The outcome of the save in flight once it has ended, without waiting; nullopt while it
  // runs or when none is in flight.
  std::optional<Outcome> Poll();
  // Waits for the save in flight and returns its outcome; nullopt when none is in flight.
  std::optional<Outcome> Wait();
  // Stops the save in flight at its next write (it ends Cancelled, nothing committed), so
  // that Wait returns soon. For a stop that cannot wait for it.
  void Cancel() { cancel_ = true; }
  // Seconds since the save in flight started; 0 when none is.
  double InFlightSeconds() const;
  // The last written snapshot, whose buffers the next TakeSnapshot may reuse; null while a
  // save is in flight.
  CheckpointSnapshot* reusable() { return in_flight() ? nullptr : &snapshot_; }

 private:
  void Write();

  const std::filesystem::path output_dir_;
  const std::unique_ptr<Communicator> comm_;
  CheckpointSnapshot snapshot_;  // the save in flight (or the last one), owned by thread_
  Outcome outcome_;              // written by thread_ before it sets done_
  std::atomic<bool> done_{false};
  std::atomic<bool> cancel_{false};
  double started_ = 0;  // steady-clock seconds at Start
  std::thread thread_;
};

}  // namespace moe::worker

#endif  // MOE_WORKER_TRAIN_ASYNC_CHECKPOINTER_H_
