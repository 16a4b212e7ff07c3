// The trainer's saves: when (every checkpoint.save_steps, or the interval SaveInterval chooses
// for `save_steps: auto`, and at epoch ends), how (periodic saves asynchronous with
// checkpoint.async, else synchronous; the final and a stop's save always synchronous, after
// the save in flight has committed), what the progress sinks hear (each committed checkpoint
// and the retention it triggers, or the failure, always from the training thread), and
// whether a stop's save can finish in the time left.
//
// Every method that saves or decides is collective: all ranks call it at the same steps with
// the same training state, and all get the same outcome.
#ifndef MOE_WORKER_TRAIN_CHECKPOINTER_H_
#define MOE_WORKER_TRAIN_CHECKPOINTER_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "moe/v1/job.pb.h"
#include "worker/model/mpt_model.h"
#include "worker/parallel/communicator.h"
#include "worker/report/progress.h"
#include "worker/train/adamw.h"
#include "worker/train/async_checkpointer.h"
#include "worker/train/checkpoint.h"
#include "worker/train/flat_parameters.h"
#include "worker/train/save_interval.h"

namespace moe::worker {

class Checkpointer {
 public:
  // Everything must outlive the checkpointer. With checkpoint.async, forks the host group
  // its background saves commit over (collective).
  static absl::StatusOr<std::unique_ptr<Checkpointer>> Create(
      const moe::v1::JobSpec& spec, MptForCausalLM& model, const AdamW& optimizer,
      const FlatParameters& flat, Communicator& comm, ProgressSink& progress);

  // Training starts at `step` (0, or where it resumed): the interval counts from there.
  void StartAt(int64_t step) { last_saved_step_ = step; }
  // Reports the background save once it has ended (call every step; not collective).
  void Poll();
  // Whether a periodic save is due after state.step (`epoch_ended`: the step ended an epoch).
  bool PeriodicDue(const TrainingState& state, bool epoch_ended) const;
  // A periodic save: asynchronous (waiting first for the previous one to commit) or not. A
  // failure is reported and training goes on from the previous checkpoint.
  void SavePeriodic(const TrainingState& state);
  // The run's final save or a stop's: synchronous, after the save in flight. A failure is
  // reported (ending the run) and returned.
  absl::Status SaveFinal(const TrainingState& state);
  // For a requested stop with `seconds_left` before its deadline: whether its synchronous save,
  // after the background save in flight, is predicted (from the last save measured; none yet:
  // it fits) to commit in time on every rank. When not, *why says so with the numbers, and the
  // save in flight is waited for if it can still commit in time, else cancelled.
  bool PrepareStop(double seconds_left, std::string* why);

  // The training time the saves since the last call cost this rank (their stalls), and how
  // many there were; the trainer sums them over ranks in its report.
  std::pair<double, int> TakeSaveCosts();
  // Measurements every rank agrees on (the report's sums): seconds per optimizer step, and the
  // mean cost of the saves since the last report (0: none). They move the `auto` interval.
  void Observe(double step_seconds, double save_cost_seconds);
  // The interval in use and why (also in each checkpoint report).
  int64_t interval_steps() const;
  std::string interval_why() const;

 private:
  Checkpointer(const moe::v1::JobSpec& spec, MptForCausalLM& model, const AdamW& optimizer,
               const FlatParameters& flat, Communicator& comm, ProgressSink& progress);
  // Saves synchronously; returns the committed directory.
  absl::StatusOr<std::filesystem::path> SaveNow(const TrainingState& state);
  // Waits for the background save and reports it.
  void Collect();
  void Report(const AsyncCheckpointer::Outcome& outcome);
  void ReportCommitted(const TrainingState& state, const std::filesystem::path& dir, double seconds,
                       double stall_seconds, bool async);
  CheckpointFailure FailureOf(const absl::Status& saved, int64_t step) const;

  const moe::v1::JobSpec& spec_;
  MptForCausalLM& model_;
  const AdamW& optimizer_;
  const FlatParameters& flat_;
  Communicator& comm_;
  ProgressSink& progress_;
  std::string tokenizer_json_;                     // rank 0: the job's tokenizer file
  std::unique_ptr<AsyncCheckpointer> background_;  // with checkpoint.async
  std::optional<SaveInterval> auto_interval_;      // with save_steps: auto
  int64_t last_saved_step_ = 0;                    // the newest save started (periodic or final)
  TrainingState in_flight_state_;                  // the background save's, reported with it
  double in_flight_stall_ = 0;                     // the background save's stall, reported with it
  double full_save_seconds_ = 0;  // the last save's whole time on this rank; 0: none yet
  double save_cost_sum_ = 0;      // TakeSaveCosts
  int save_count_ = 0;
  int64_t logged_interval_ = -1;  // the interval last logged
};

}  // namespace moe::worker

#endif  // MOE_WORKER_TRAIN_CHECKPOINTER_H_
