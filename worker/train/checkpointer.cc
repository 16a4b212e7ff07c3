#include "worker/train/checkpointer.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "common/checkpoint_manifest.h"
#include "common/disk_full.h"
#include "common/status_macros.h"
#include "common/steady_seconds.h"

namespace moe::worker {
namespace {

namespace fs = std::filesystem;

uint64_t DirectoryBytes(const fs::path& dir) {
  uint64_t bytes = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    bytes += entry.is_regular_file(ec) ? entry.file_size(ec) : 0;
  }
  return bytes;
}

}  // namespace

Checkpointer::Checkpointer(const moe::v1::JobSpec& spec, MptForCausalLM& model,
                           const AdamW& optimizer, const FlatParameters& flat, Communicator& comm,
                           ProgressSink& progress)
    : spec_(spec),
      model_(model),
      optimizer_(optimizer),
      flat_(flat),
      comm_(comm),
      progress_(progress) {}

absl::StatusOr<std::unique_ptr<Checkpointer>> Checkpointer::Create(
    const moe::v1::JobSpec& spec, MptForCausalLM& model, const AdamW& optimizer,
    const FlatParameters& flat, Communicator& comm, ProgressSink& progress) {
  auto c =
      std::unique_ptr<Checkpointer>(new Checkpointer(spec, model, optimizer, flat, comm, progress));
  if (comm.rank() == 0) {
    ASSIGN_OR_RETURN(c->tokenizer_json_, ReadTokenizerJson(spec));
  }
  if (spec.checkpoint().async()) {
    ASSIGN_OR_RETURN(std::unique_ptr<Communicator> host, comm.ForkHostGroup("checkpoint/"));
    c->background_ =
        std::make_unique<AsyncCheckpointer>(spec.checkpoint().output_dir(), std::move(host));
  }
  if (spec.checkpoint().save_steps_auto()) {
    absl::Duration mtbi;
    if (!absl::ParseDuration(spec.checkpoint().mean_time_between_interruptions(), &mtbi) ||
        mtbi <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          absl::StrCat("checkpoint.mean_time_between_interruptions: '",
                       spec.checkpoint().mean_time_between_interruptions(),
                       "' is not a positive duration such as 2h"));
    }
    c->auto_interval_.emplace(absl::ToDoubleSeconds(mtbi));
  }
  return c;
}

void Checkpointer::Poll() {
  if (background_ == nullptr) return;
  if (std::optional<AsyncCheckpointer::Outcome> outcome = background_->Poll()) {
    Report(*outcome);
  }
}

void Checkpointer::Collect() {
  if (background_ == nullptr) return;
  if (std::optional<AsyncCheckpointer::Outcome> outcome = background_->Wait()) {
    Report(*outcome);
  }
}

bool Checkpointer::PeriodicDue(const TrainingState& state, bool epoch_ended) const {
  if (epoch_ended && spec_.checkpoint().save_at_epoch_end()) return true;
  if (!auto_interval_) {
    const uint32_t every = spec_.checkpoint().save_steps();
    return every > 0 && state.step % every == 0;
  }
  // Until a save is measured, the first one comes with the first report (a step is measured).
  const int64_t every =
      auto_interval_->steps() > 0 ? auto_interval_->steps() : spec_.logging().logging_steps();
  return state.step - last_saved_step_ >= every;
}

void Checkpointer::SavePeriodic(const TrainingState& state) {
  const BusyScope busy(progress_);
  if (background_ == nullptr) {
    // A failure (disk full, permissions) is loud, on every rank alike, and training goes on:
    // the previous checkpoint stays the newest committed one.
    if (const auto saved = SaveNow(state); !saved.ok()) {
      progress_.OnCheckpointFailed(FailureOf(saved.status(), state.step));
    }
    return;
  }
  const double started = common::SteadySeconds();
  Collect();  // the previous save commits first
  last_saved_step_ = state.step;
  in_flight_state_ = state;
  CheckpointSnapshot snapshot =
      TakeSnapshot(state, spec_, tokenizer_json_, model_, optimizer_, flat_, comm_.rank(),
                   comm_.world_size(), SnapshotKind::kHostCopy, background_->reusable());
  in_flight_stall_ = common::SteadySeconds() - started;
  save_cost_sum_ += in_flight_stall_;
  ++save_count_;
  background_->Start(std::move(snapshot));
}

absl::Status Checkpointer::SaveFinal(const TrainingState& state) {
  const BusyScope busy(progress_);
  Collect();
  // The run's end depends on it: a failure ends the run (disk full: exit code 7, moed waits
  // for space), reported first.
  absl::StatusOr<fs::path> saved = SaveNow(state);
  if (saved.ok()) return absl::OkStatus();
  CheckpointFailure failure = FailureOf(saved.status(), state.step);
  failure.ends_run = true;
  progress_.OnCheckpointFailed(failure);
  return saved.status();
}

absl::StatusOr<fs::path> Checkpointer::SaveNow(const TrainingState& state) {
  const double started = common::SteadySeconds();
  last_saved_step_ = state.step;
  absl::StatusOr<fs::path> saved =
      WriteCheckpoint(spec_.checkpoint().output_dir(),
                      TakeSnapshot(state, spec_, tokenizer_json_, model_, optimizer_, flat_,
                                   comm_.rank(), comm_.world_size(), SnapshotKind::kViews),
                      comm_);
  const double seconds = common::SteadySeconds() - started;
  save_cost_sum_ += seconds;
  ++save_count_;
  if (saved.ok()) {
    full_save_seconds_ = seconds;
    ReportCommitted(state, *saved, seconds, seconds, /*async=*/false);
  }
  return saved;
}

void Checkpointer::Report(const AsyncCheckpointer::Outcome& outcome) {
  if (absl::IsCancelled(outcome.saved.status())) {  // PrepareStop abandoned it
    progress_.OnMessage(absl::StrCat("checkpoint step ", outcome.step,
                                     " abandoned: it could not commit before the stop's "
                                     "deadline; nothing of it was committed"));
    return;
  }
  if (!outcome.saved.ok()) {
    progress_.OnCheckpointFailed(FailureOf(outcome.saved.status(), outcome.step));
    return;
  }
  full_save_seconds_ = outcome.seconds;
  ReportCommitted(in_flight_state_, *outcome.saved, outcome.seconds, in_flight_stall_,
                  /*async=*/true);
}

void Checkpointer::ReportCommitted(const TrainingState& state, const fs::path& dir, double seconds,
                                   double stall_seconds, bool async) {
  if (comm_.rank() != 0) return;
  CheckpointReport report{state.step, dir.string(), seconds, stall_seconds, async};
  report.bytes = DirectoryBytes(dir);
  report.epoch = state.epoch;
  report.data_position = state.data_position;
  report.world_size = state.world_size;
  report.interval_steps = interval_steps();
  report.interval_why = interval_why();
  progress_.OnCheckpoint(report);
  for (const auto& deleted : ApplyRetention(spec_.checkpoint().output_dir(),
                                            spec_.checkpoint().keep_last(), state.step)) {
    progress_.OnMessage(absl::StrCat("retention: deleted ", deleted.string()));
  }
}

bool Checkpointer::PrepareStop(double seconds_left, std::string* why) {
  // A margin for the prediction: a save is about as long as the last one, not exactly.
  constexpr double kMargin = 1.25;
  const double in_flight_left =
      background_ != nullptr && background_->in_flight()
          ? std::max(full_save_seconds_ - background_->InFlightSeconds(), 0.0)
          : 0.0;
  const double predicted = in_flight_left + full_save_seconds_;
  const bool fits = full_save_seconds_ == 0 || kMargin * predicted < seconds_left;
  const bool can_wait = kMargin * in_flight_left < seconds_left;
  // {ranks where the stop's save does not fit, ranks that cannot wait for the one in flight}
  torch::Tensor votes =
      torch::tensor({fits ? 0.0F : 1.0F, can_wait ? 0.0F : 1.0F},  // host, then the device
                    torch::dtype(torch::kFloat32))
          .to(comm_.device());
  comm_.AllReduceSum(votes);
  const torch::Tensor counts = votes.to(torch::kCPU);
  if (counts[0].item<float>() == 0) return true;
  *why =
      fits
          ? std::string("another rank predicts the save does not fit the time left")
          : absl::StrFormat(
                "the last save took %.3g s%s (x%.3g margin), and %.3g s are left before the "
                "stop's deadline",
                full_save_seconds_,
                in_flight_left > 0
                    ? absl::StrFormat(", the one in flight needs about %.3g s more", in_flight_left)
                    : "",
                kMargin, seconds_left);
  if (background_ != nullptr && background_->in_flight()) {
    if (counts[1].item<float>() > 0) {  // cannot commit in time either: abandon it
      background_->Cancel();
      *why += "; the save in flight is abandoned";
    } else {
      *why += "; the save in flight commits first";
    }
    Collect();
  }
  return false;
}

std::pair<double, int> Checkpointer::TakeSaveCosts() {
  const std::pair<double, int> costs{save_cost_sum_, save_count_};
  save_cost_sum_ = 0;
  save_count_ = 0;
  return costs;
}

void Checkpointer::Observe(double step_seconds, double save_cost_seconds) {
  if (!auto_interval_) return;
  auto_interval_->ObserveStep(step_seconds);
  auto_interval_->ObserveSave(save_cost_seconds);
  const int64_t steps = auto_interval_->steps();
  // Said when it is first known and whenever it moves by a fifth or more.
  if (steps > 0 &&
      (logged_interval_ <= 0 || std::abs(steps - logged_interval_) * 5 >= logged_interval_)) {
    logged_interval_ = steps;
    progress_.OnMessage(
        absl::StrCat("checkpoint interval: every ", steps, " steps (", auto_interval_->Why(), ")"));
  }
}

int64_t Checkpointer::interval_steps() const {
  return auto_interval_ ? auto_interval_->steps() : spec_.checkpoint().save_steps();
}

std::string Checkpointer::interval_why() const {
  if (auto_interval_) return absl::StrCat("save_steps: auto; ", auto_interval_->Why());
  return spec_.checkpoint().save_steps() > 0 ? "checkpoint.save_steps" : "epoch ends only";
}

CheckpointFailure Checkpointer::FailureOf(const absl::Status& saved, int64_t step) const {
  CheckpointFailure failure;
  failure.step = step;
  failure.error = std::string(saved.message());
  failure.disk_full = common::IsDiskFull(saved);
  failure.dir = (fs::path(spec_.checkpoint().output_dir()) / common::CheckpointName(step)).string();
  if (failure.disk_full) {
    // The newest committed checkpoint's size; before any, the model in its saved precision
    // plus the fp32 master weights and two moments of every parameter.
    for (const auto& [committed_step, dir] :
         common::CheckpointDirs(spec_.checkpoint().output_dir())) {
      failure.bytes_needed = DirectoryBytes(dir);
      if (failure.bytes_needed > 0) break;
    }
    if (failure.bytes_needed == 0) {
      for (const torch::Tensor& p : model_->parameters()) {
        failure.bytes_needed += static_cast<uint64_t>(p.numel()) * (p.element_size() + 12);
      }
    }
  }
  return failure;
}

}  // namespace moe::worker
