#include "server/coordinator.h"

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/checkpoint_manifest.h"
#include "common/exit_codes.h"
#include "common/logging.h"
#include "common/output_owner.h"
#include "common/status_macros.h"
#include "common/worker_token.h"
#include "server/attempt_policy.h"
#include "server/job_files.h"
#include "server/oom_kills.h"

namespace moe::server {
namespace {

namespace fs = std::filesystem;
using moe::v1::AttemptCause;
using moe::v1::JobState;

// SIGKILL again this often while a stopped attempt's workers are not all reaped.
constexpr double kKillAgain_s = 5;

}  // namespace

Coordinator::Coordinator(Catalogue& catalogue, CoordinatorMetrics& metrics,
                         const LauncherRegistry& launchers, CoordinatorOptions options,
                         std::function<double()> now)
    : catalogue_(catalogue),
      metrics_(metrics),
      options_(std::move(options)),
      now_(std::move(now)),
      paths_(options_.allowed_roots),
      launchers_(launchers) {}

Coordinator::~Coordinator() {
  absl::MutexLock lock(&mu_);
  for (auto& [job_id, run] : running_) {
    // Workers that outlive moed (a Slurm job) are left to run: the next moed re-attaches.
    if (run.workers->handle().empty()) run.workers->Signal(SIGKILL);
  }
}

void Coordinator::SetWorkerAddress(const std::string& local, const std::string& remote) {
  absl::MutexLock lock(&mu_);
  worker_address_ = local;
  remote_worker_address_ = remote;
}

absl::StatusOr<Launcher*> Coordinator::LauncherFor(const moe::v1::JobSpec& spec) const {
  return launchers_.For(spec.resources().launcher());
}

moe::v1::Launcher Coordinator::LauncherKind(const moe::v1::JobSpec& spec) const {
  return spec.resources().launcher() == moe::v1::LAUNCHER_UNSPECIFIED ? options_.default_launcher
                                                                      : spec.resources().launcher();
}

int64_t Coordinator::version() const {
  absl::MutexLock lock(&mu_);
  return version_;
}

void Coordinator::Event(int64_t job_id, const std::string& text, double now) {
  spdlog::info("job {}: {}", job_id, text);
  absl::Status recorded = catalogue_error_.empty() ? catalogue_.AddEvent(job_id, text, now)
                                                   : absl::UnavailableError(catalogue_error_);
  if (recorded.ok()) return;
  if (catalogue_error_.empty()) CatalogueFailed(recorded);
  backlog_.KeepEvent(job_id, text, now);
}

void Coordinator::BestEffort(const absl::Status& written, absl::string_view what) {
  if (written.ok()) return;
  metrics_.OnCatalogueWriteFailed();
  spdlog::warn("catalogue: cannot {}: {}", what, written.message());
}

void Coordinator::CatalogueFailed(const absl::Status& status) {
  metrics_.OnCatalogueWriteFailed();
  if (!catalogue_error_.empty()) return;
  catalogue_error_ = std::string(status.message());
  metrics_.SetCatalogueWritable(false, backlog_.size());
  spdlog::error(
      "moed cannot write its catalogue ({}): running jobs go on, their reports are kept in memory "
      "(up to {} of each kind) and written when it can; no new jobs or attempts start until then",
      catalogue_error_, backlog_.max_reports());
}

void Coordinator::Reconcile(double now) {
  if (catalogue_error_.empty() || now < next_reconcile_) return;
  next_reconcile_ = now + 1;
  const size_t backlog = backlog_.size();
  size_t ends = 0;
  auto failed = [&](const absl::Status& status) {
    metrics_.SetCatalogueWritable(false, backlog_.size());
    spdlog::debug("catalogue still failing: {}", status.message());
  };
  if (absl::Status written = backlog_.WriteTo(catalogue_); !written.ok()) return failed(written);
  for (auto it = running_.begin(); it != running_.end();) {
    if (!it->second.unrecorded_end) {
      ++it;
      continue;
    }
    if (!Finish(it->first, it->second, now)) return failed(absl::UnavailableError(""));
    ++ends;
    it = running_.erase(it);
  }
  const size_t dropped = backlog_.TakeDropped();
  spdlog::warn("moed can write its catalogue again: recorded {} kept reports and {} attempt ends{}",
               backlog, ends,
               dropped > 0 ? absl::StrCat(" (", dropped, " older ones were dropped)") : "");
  catalogue_error_.clear();
  metrics_.SetCatalogueWritable(true, 0);
  ++version_;
}

absl::Status Coordinator::Recover() {
  const double now = now_();
  ASSIGN_OR_RETURN(const auto running, catalogue_.JobsIn(moe::v1::JOB_STATE_RUNNING));
  ASSIGN_OR_RETURN(const auto interrupted, catalogue_.JobsIn(moe::v1::JOB_STATE_INTERRUPTED));
  std::vector<moe::v1::Job> resume = running;
  resume.insert(resume.end(), interrupted.begin(), interrupted.end());
  for (const moe::v1::Job& job : resume) {
    if (job.state() == moe::v1::JOB_STATE_RUNNING) {
      absl::MutexLock lock(&mu_);
      if (Reattach(job, now)) continue;
    }
    ASSIGN_OR_RETURN(const auto attempts, catalogue_.ListAttempts(job.id()));
    for (const moe::v1::Attempt& a : attempts) {
      if (a.ended_unix_s() == 0) {
        // Left open, it is ended at the next start, as here.
        BestEffort(catalogue_.EndAttempt(a.id(), 0, 0, moe::v1::ATTEMPT_CAUSE_INTERRUPTED, now),
                   "end an attempt that moed's restart interrupted");
      }
    }
    if (job.state() == moe::v1::JOB_STATE_RUNNING) {
      RETURN_IF_ERROR(catalogue_.SetState(job.id(), moe::v1::JOB_STATE_INTERRUPTED, now));
    }
    RETURN_IF_ERROR(AdoptUnrecorded(job, now));
    RETURN_IF_ERROR(catalogue_.SetNextStart(job.id(), "", now));
    RETURN_IF_ERROR(catalogue_.SetState(job.id(), moe::v1::JOB_STATE_QUEUED, now));
    RETURN_IF_ERROR(
        Note(job.id(), "interrupted (moed restarted): resuming from the newest checkpoint", now));
  }
  return absl::OkStatus();
}

bool Coordinator::Reattach(const moe::v1::Job& job, double now) {
  const auto attempts = catalogue_.ListAttempts(job.id());
  if (!attempts.ok() || attempts->empty()) return false;
  const moe::v1::Attempt& attempt = attempts->back();
  if (attempt.ended_unix_s() != 0 || attempt.launcher_handle().empty()) return false;
  const fs::path log_dir = fs::path(job.job_dir()) / absl::StrCat("attempt-", attempt.id());
  Launcher* launcher = launchers_.ForHandle(attempt.launcher_handle());
  if (launcher == nullptr) {
    Event(job.id(),
          absl::StrCat("cannot re-attach to ", attempt.launcher_handle(),
                       ": no launcher of this moed made it"),
          now);
    return false;
  }
  auto workers = launcher->Reattach(attempt.launcher_handle(), attempt.world_size(), log_dir);
  if (!workers.ok()) {
    Event(job.id(),
          absl::StrCat("cannot re-attach to ", attempt.launcher_handle(), ": ",
                       workers.status().message()),
          now);
    return false;
  }
  const auto secret = catalogue_.WorkerSecret(attempt.id());
  if (!secret.ok()) return false;
  // Heartbeats are due from now on.
  Track(job.id(), attempt.id(), attempt.world_size(), *std::move(workers), /*uses_slots=*/false,
        attempt.resume_from(), *secret, now);
  Event(job.id(),
        absl::StrCat("moed restarted: re-attached to attempt ", attempt.id(), " (",
                     attempt.launcher_handle(), ")"),
        now);
  ++version_;
  return true;
}

Coordinator::Running& Coordinator::Track(int64_t job_id, int64_t attempt_id, int32_t world_size,
                                         std::unique_ptr<WorkerGroup> workers, bool uses_slots,
                                         const std::string& resume_from,
                                         const std::string& worker_secret, double now) {
  Running& run = running_[job_id];
  run.worker_secret = worker_secret;
  run.attempt_id = attempt_id;
  run.world_size = world_size;
  run.workers = std::move(workers);
  run.uses_slots = uses_slots;
  run.ended.assign(world_size, false);
  run.wait_status.assign(world_size, 0);
  run.last_heartbeat.assign(world_size, 0);
  run.started = now;
  run.resumed = !resume_from.empty();
  run.resume_from = resume_from;
  return run;
}

absl::Status Coordinator::AdoptUnrecorded(const moe::v1::Job& job, double now) {
  ASSIGN_OR_RETURN(const auto known, catalogue_.ListCheckpoints(job.id()));
  const auto attempts = catalogue_.ListAttempts(job.id());
  const int64_t attempt = attempts.ok() && !attempts->empty() ? attempts->back().id() : 0;
  return RecordUnrecorded(
      job.id(), attempt,
      FindUnrecorded(job.spec().checkpoint().output_dir(), known.empty() ? 0 : known.front().step(),
                     job.submitted_unix_s()),
      now);
}

absl::Status Coordinator::RecordUnrecorded(int64_t job_id, int64_t attempt_id,
                                           const Unrecorded& found, double now) {
  for (const std::string& ignored : found.ignored) RETURN_IF_ERROR(Note(job_id, ignored, now));
  if (found.step == 0) return absl::OkStatus();
  // Reported meanwhile (a late report, or one kept while the catalogue failed): that record,
  // with its size and manifest hash, stands.
  ASSIGN_OR_RETURN(const auto known, catalogue_.ListCheckpoints(job_id));
  for (const moe::v1::Checkpoint& k : known) {
    if (k.step() == found.step) return absl::OkStatus();
  }
  moe::v1::Checkpoint c;
  c.set_job_id(job_id);
  c.set_attempt_id(attempt_id);
  c.set_step(found.step);
  c.set_path(found.dir.string());
  c.set_committed_unix_s(now);
  RETURN_IF_ERROR(catalogue_.AddCheckpoint(c));
  return Note(job_id, absl::StrCat("adopted unrecorded checkpoint ", found.dir.string()), now);
}

void Coordinator::LookForUnrecorded() {
  struct Search {
    int64_t job_id = 0, attempt_id = 0, newest_known = 0;
    fs::path output_dir;
    double submitted = 0;
    Unrecorded found;
  };
  std::vector<Search> searches;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [job_id, run] : running_) {
      if (!run.end || run.end->cause == moe::v1::ATTEMPT_CAUSE_COMPLETED || run.unrecorded) {
        continue;
      }
      const auto job = catalogue_.GetJob(job_id);
      const auto known = catalogue_.ListCheckpoints(job_id);
      if (!job.ok() || !known.ok()) {
        // The catalogue cannot be read: nothing adopted now (the next start adopts it).
        run.unrecorded = Unrecorded{};
        continue;
      }
      const int64_t newest =
          std::max(known->empty() ? 0 : known->front().step(), backlog_.NewestCheckpoint(job_id));
      searches.push_back({job_id, run.attempt_id, newest, job->spec().checkpoint().output_dir(),
                          job->submitted_unix_s()});
    }
  }
  // Off the lock: verifying reads (hashes) whole checkpoints, which may take minutes.
  for (Search& s : searches) s.found = FindUnrecorded(s.output_dir, s.newest_known, s.submitted);
  absl::MutexLock lock(&mu_);
  for (Search& s : searches) {
    const auto it = running_.find(s.job_id);
    if (it != running_.end() && it->second.attempt_id == s.attempt_id) {
      it->second.unrecorded = std::move(s.found);
    }
  }
}

absl::StatusOr<moe::v1::Job> Coordinator::Submit(const moe::v1::JobSpec& spec,
                                                 bool unique_output_dir) {
  RETURN_IF_ERROR(paths_.Check(spec));
  ASSIGN_OR_RETURN(const Launcher* launcher, LauncherFor(spec));
  RETURN_IF_ERROR(launcher->Admit(spec, options_.slots));
  ASSIGN_OR_RETURN(
      const std::optional<std::string> memory_warning,
      AdmitByMemory(spec, options_.memory, LauncherKind(spec) == moe::v1::LAUNCHER_SLURM));
  const int world = static_cast<int>(spec.resources().world_size());
  const double now = now_();
  // Held throughout: no other submit can take the output directory meanwhile, and the
  // scheduler never sees the job before its files exist.
  absl::MutexLock lock(&mu_);
  if (!catalogue_error_.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("moed cannot write its catalogue (", catalogue_error_,
                     "): it takes no new jobs until it can; running jobs go on"));
  }
  if (!unique_output_dir) {
    RETURN_IF_ERROR(CheckOutputDirFree(catalogue_, options_.catalogue_id, spec));
  }
  ASSIGN_OR_RETURN(const int64_t id, catalogue_.CreateJob(spec, now, [&](int64_t id) {
    return PrepareJobFiles(spec, unique_output_dir, id, options_.data_dir, options_.catalogue_id);
  }));
  Event(id, absl::StrCat("submitted: ", spec.name(), " on ", world, " workers"), now);
  if (memory_warning) Event(id, *memory_warning, now);
  ++version_;
  return catalogue_.GetJob(id);
}

absl::StatusOr<moe::v1::Job> Coordinator::Cancel(int64_t job_id) {
  const double now = now_();
  absl::MutexLock lock(&mu_);
  if (auto it = running_.find(job_id); it != running_.end()) {
    it->second.cancel = true;
    // Its workers may be gone already (an end waiting to be recorded): nothing to signal.
    if (!it->second.end) Stop(it->second, moe::v1::ATTEMPT_CAUSE_CANCELLED, now);
  } else {
    RETURN_IF_ERROR(catalogue_.SetState(job_id, moe::v1::JOB_STATE_CANCELLED, now));
  }
  Event(job_id, "cancel requested", now);
  ++version_;
  return catalogue_.GetJob(job_id);
}

absl::StatusOr<moe::v1::Job> Coordinator::Resume(int64_t job_id, int64_t from_step,
                                                 int32_t world_size) {
  const double now = now_();
  ASSIGN_OR_RETURN(const moe::v1::Job job, catalogue_.GetJob(job_id));
  if (job.state() != moe::v1::JOB_STATE_FAILED && job.state() != moe::v1::JOB_STATE_CANCELLED &&
      job.state() != moe::v1::JOB_STATE_INTERRUPTED) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job_id, " is ", StateName(job.state()),
                     ": only a failed, cancelled or interrupted job can be resumed"));
  }
  ASSIGN_OR_RETURN(const auto owners, catalogue_.JobsWithOutputDir(OutputDirKey(job.spec())));
  for (const auto& [owner, state] : owners) {
    if (owner > job_id) {
      return absl::FailedPreconditionError(
          absl::StrCat("job ", job_id, "'s checkpoint directory ", OutputDirKey(job.spec()),
                       " now belongs to job ", owner, " (which continued it)"));
    }
  }
  if (world_size > 0) {
    moe::v1::JobSpec resized = job.spec();
    resized.mutable_resources()->set_world_size(world_size);
    ASSIGN_OR_RETURN(const Launcher* launcher, LauncherFor(resized));
    RETURN_IF_ERROR(launcher->Admit(resized, options_.slots));
  }
  std::string from;
  if (from_step > 0) {
    ASSIGN_OR_RETURN(const auto checkpoints, catalogue_.ListCheckpoints(job_id));
    for (const moe::v1::Checkpoint& c : checkpoints) {
      if (c.step() == from_step) from = c.path();
    }
    if (from.empty()) {
      return absl::NotFoundError(absl::StrCat("job ", job_id,
                                              " has no committed checkpoint of step ", from_step,
                                              " (moectl checkpoints ", job_id, ")"));
    }
  }
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(catalogue_.SetState(job_id, moe::v1::JOB_STATE_QUEUED, now));
  RETURN_IF_ERROR(catalogue_.SetNextStart(job_id, from, now));
  if (world_size > 0) RETURN_IF_ERROR(catalogue_.SetWorldSize(job_id, world_size));
  RETURN_IF_ERROR(catalogue_.SetRestarts(job_id, 0));
  Event(job_id,
        absl::StrCat("resume requested", from.empty() ? "" : " from " + from,
                     world_size > 0 ? absl::StrCat(" on ", world_size, " workers") : ""),
        now);
  ++version_;
  return catalogue_.GetJob(job_id);
}

absl::StatusOr<moe::v1::DeleteJobResponse> Coordinator::Delete(int64_t job_id, bool files) {
  absl::MutexLock lock(&mu_);  // no resume can start it meanwhile
  ASSIGN_OR_RETURN(const moe::v1::Job job, catalogue_.GetJob(job_id));
  if (!IsFinal(job.state())) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job_id, " has not ended (it is ", StateName(job.state()),
                     "): cancel it first (moectl cancel ", job_id, ")"));
  }
  RETURN_IF_ERROR(catalogue_.DeleteJob(job_id));
  spdlog::info("job {}: deleted from the catalogue{}", job_id, files ? " with its files" : "");
  moe::v1::DeleteJobResponse response;
  if (!files) return response;
  std::vector<fs::path> dirs = {job.job_dir()};
  // The checkpoint directory only while it is still this job's (not continued by another).
  const fs::path output_dir = OutputDirKey(job.spec());
  const auto owner = common::ReadOwner(output_dir);
  if (owner.ok() && *owner == common::OwnerName(options_.catalogue_id, job_id))
    dirs.push_back(output_dir);
  for (const fs::path& dir : dirs) {
    std::error_code ec;
    fs::remove_all(dir, ec);
    if (ec) {
      return absl::InternalError(absl::StrCat("job ", job_id, " is deleted from the catalogue, ",
                                              "but ", dir.string(),
                                              " could not be: ", ec.message()));
    }
    response.add_removed(dir.string());
  }
  return response;
}

absl::StatusOr<fs::path> Coordinator::LogPath(int64_t job_id, int64_t attempt_id, int rank) {
  ASSIGN_OR_RETURN(const moe::v1::Job job, catalogue_.GetJob(job_id));
  ASSIGN_OR_RETURN(const auto attempts, catalogue_.ListAttempts(job_id));
  if (attempts.empty()) {
    return absl::NotFoundError(absl::StrCat("job ", job_id, " has not started yet"));
  }
  const moe::v1::Attempt* attempt = &attempts.back();
  for (const moe::v1::Attempt& a : attempts) {
    if (a.id() == attempt_id) attempt = &a;
  }
  if (attempt_id != 0 && attempt->id() != attempt_id) {
    return absl::NotFoundError(absl::StrCat("job ", job_id, " has no attempt ", attempt_id));
  }
  if (rank < 0 || rank >= attempt->world_size()) {
    return absl::InvalidArgumentError(absl::StrCat("rank ", rank, ": attempt ", attempt->id(),
                                                   " has ranks 0..", attempt->world_size() - 1));
  }
  return fs::path(job.job_dir()) / absl::StrCat("attempt-", attempt->id()) /
         absl::StrCat("rank-", rank, ".log");
}

absl::StatusOr<Coordinator::Running*> Coordinator::RunningAttempt(const moe::v1::WorkerRef& worker,
                                                                  const std::string& token) {
  if (token.empty()) {
    return absl::PermissionDeniedError(
        "worker calls need the worker token moed gave the rank (MOE_WORKER_TOKEN)");
  }
  auto it = running_.find(worker.job_id());
  if (it == running_.end() || it->second.attempt_id != worker.attempt_id()) {
    return absl::FailedPreconditionError(absl::StrCat("attempt ", worker.attempt_id(), " of job ",
                                                      worker.job_id(), " is not running"));
  }
  Running& run = it->second;
  if (run.worker_secret.empty()) {  // an attempt started before moed had worker tokens
    return absl::PermissionDeniedError(absl::StrCat("attempt ", worker.attempt_id(), " of job ",
                                                    worker.job_id(),
                                                    " has no worker secret: it cannot report"));
  }
  if (worker.rank() < 0 || worker.rank() >= run.world_size) {
    return absl::InvalidArgumentError(absl::StrCat("no rank ", worker.rank()));
  }
  if (!common::TokensEqual(token, common::WorkerToken(run.worker_secret, worker.job_id(),
                                                      worker.attempt_id(), worker.rank()))) {
    return absl::PermissionDeniedError(
        absl::StrCat("the worker token is not that of rank ", worker.rank(), " of attempt ",
                     worker.attempt_id(), " of job ", worker.job_id()));
  }
  return &run;
}

absl::StatusOr<bool> Coordinator::Heartbeat(const moe::v1::WorkerRef& worker,
                                            const std::string& token) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Running * run, RunningAttempt(worker, token));
  run->last_heartbeat[worker.rank()] = now_();
  if (worker.busy()) run->last_progress = now_();  // saving or evaluating: no steps are due
  return run->stopping;
}

absl::StatusOr<bool> Coordinator::ReportSteps(const moe::v1::WorkerRef& worker,
                                              const std::string& token,
                                              const std::vector<moe::v1::StepMetrics>& steps) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Running * run, RunningAttempt(worker, token));
  const double now = now_();
  run->last_heartbeat[worker.rank()] = now;
  absl::Status recorded = catalogue_error_.empty()
                              ? catalogue_.AddSteps(worker.job_id(), worker.attempt_id(), steps)
                              : absl::UnavailableError(catalogue_error_);
  if (!recorded.ok()) {
    // Kept for when the catalogue can be written again; the worker trains on regardless.
    if (catalogue_error_.empty()) CatalogueFailed(recorded);
    backlog_.KeepSteps(worker.job_id(), worker.attempt_id(), steps);
  }
  metrics_.OnSteps(worker.job_id(), steps);
  if (!run->reported && run->resumed) metrics_.OnResumed(now - run->started);
  if (run->reported) {
    run->report_intervals.push_back(now - run->last_report);
    if (run->report_intervals.size() > 31) run->report_intervals.pop_front();
  }
  run->reported = true;
  run->last_report = run->last_progress = now;
  ++version_;
  return run->stopping;
}

absl::StatusOr<bool> Coordinator::ReportCheckpoint(const moe::v1::WorkerRef& worker,
                                                   const std::string& token,
                                                   moe::v1::Checkpoint checkpoint) {
  fs::path expected;
  {
    absl::MutexLock lock(&mu_);
    ASSIGN_OR_RETURN(Running * run, RunningAttempt(worker, token));
    run->last_heartbeat[worker.rank()] = now_();
    // Only the job's own checkpoint directory: retention deletes what is recorded here.
    ASSIGN_OR_RETURN(const moe::v1::Job job, catalogue_.GetJob(worker.job_id()));
    expected =
        (fs::path(job.spec().checkpoint().output_dir()) / common::CheckpointName(checkpoint.step()))
            .lexically_normal();
  }
  if (checkpoint.step() <= 0 || fs::path(checkpoint.path()).lexically_normal() != expected) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint of step ", checkpoint.step(),
                                                   " reported at ", checkpoint.path(), ", not at ",
                                                   expected.string()));
  }
  // Off the lock (it reads the directory): the commit must be there, as the manifest says.
  std::error_code ec;
  if (fs::is_symlink(expected, ec) || !fs::is_directory(expected, ec)) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint of step ", checkpoint.step(), ": ",
                                                   expected.string(), " is not a directory"));
  }
  RETURN_IF_ERROR(common::VerifyCheckpoint(expected, common::VerifyDepth::kSizes));
  ASSIGN_OR_RETURN(const std::string manifest_sha256,
                   common::Sha256File(expected / common::kManifestFile));
  if (manifest_sha256 != checkpoint.manifest_sha256()) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint of step ", checkpoint.step(), ": ",
                                                   expected.string(), "/", common::kManifestFile,
                                                   " is not the manifest reported"));
  }
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Running * run, RunningAttempt(worker, token));
  checkpoint.set_path(expected.string());
  checkpoint.set_job_id(worker.job_id());
  checkpoint.set_attempt_id(worker.attempt_id());
  checkpoint.set_committed_unix_s(now_());
  absl::Status recorded = catalogue_error_.empty() ? catalogue_.AddCheckpoint(checkpoint)
                                                   : absl::UnavailableError(catalogue_error_);
  metrics_.OnCheckpoint(worker.job_id(), checkpoint);
  if (recorded.ok()) {
    ApplyRetention(worker.job_id());
  } else {
    // Committed on disk: recorded when the catalogue can be written; nothing deleted meanwhile.
    if (catalogue_error_.empty()) CatalogueFailed(recorded);
    backlog_.KeepCheckpoint(checkpoint);
  }
  ++version_;
  return run->stopping;
}

absl::StatusOr<bool> Coordinator::ReportCheckpointFailure(
    const std::string& token, const moe::v1::ReportCheckpointFailureRequest& failure) {
  const moe::v1::WorkerRef& worker = failure.worker();
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Running * run, RunningAttempt(worker, token));
  const double now = now_();
  run->last_heartbeat[worker.rank()] = now;
  metrics_.OnCheckpointFailed(worker.job_id(), failure.disk_full() ? "disk_full" : "save");
  if (failure.disk_full()) {
    run->disk_full_path = failure.path();
    run->disk_bytes_needed = failure.bytes_needed();
  }
  Event(worker.job_id(),
        absl::StrCat("checkpoint of step ", failure.step(), " FAILED: ", failure.error(),
                     failure.disk_full()
                         ? absl::StrCat(" (disk full: the save needs about ",
                                        failure.bytes_needed(), " bytes in ", failure.path(), ")")
                         : ""),
        now);
  ++version_;
  return run->stopping;
}

void Coordinator::ApplyRetention(int64_t job_id) {
  const auto job = catalogue_.GetJob(job_id);
  const auto checkpoints = catalogue_.ListCheckpoints(job_id);
  if (!job.ok() || !checkpoints.ok()) return;
  const uint32_t keep = job->spec().checkpoint().keep_last();
  if (keep == 0 || checkpoints->size() <= keep) return;
  // Only while the newest recorded checkpoint is intact: older ones are the way back otherwise.
  if (const absl::Status newest =
          common::VerifyCheckpoint(checkpoints->front().path(), common::VerifyDepth::kSizes);
      !newest.ok()) {
    spdlog::warn("job {}: retention skipped, the newest checkpoint does not verify: {}", job_id,
                 newest.message());
    return;
  }
  const fs::path output_dir = fs::path(OutputDirKey(job->spec()));
  for (size_t i = keep; i < checkpoints->size(); ++i) {  // newest first: the rest are older
    const moe::v1::Checkpoint& old = checkpoints->at(i);
    // Only the job's own checkpoint directories (what ReportCheckpoint and adoption record).
    const fs::path path = fs::path(old.path()).lexically_normal();
    if (path.parent_path() != output_dir || common::CheckpointStep(path) != old.step()) {
      spdlog::warn("job {}: retention: {} is not a checkpoint directory of the job; kept", job_id,
                   old.path());
      continue;
    }
    std::error_code ec;
    fs::remove_all(old.path(), ec);
    if (ec) {
      spdlog::warn("retention: cannot delete {}: {}", old.path(), ec.message());
      continue;
    }
    // Still listed, it fails verification when a resume tries it, which then takes an older one.
    BestEffort(catalogue_.MarkCheckpointDeleted(job_id, old.step()),
               "mark a deleted checkpoint deleted");
    Event(job_id, absl::StrCat("retention: deleted ", old.path()), now_());
  }
}

void Coordinator::Tick() {
  const double now = now_();
  {
    absl::MutexLock lock(&mu_);
    Supervise(now);
  }
  LookForUnrecorded();  // off the lock, for the attempts that just ended
  absl::MutexLock lock(&mu_);
  FinishEnded(now);
  Reconcile(now);
  // New attempts only while the catalogue can record them.
  if (!shutting_down_ && catalogue_error_.empty()) Schedule(now);
  if (now - gauges_updated_ >= 1) UpdateGauges(now);
}

void Coordinator::Supervise(double now) {
  for (auto& [job_id, run] : running_) {
    if (run.end) continue;  // over: FinishEnded records it
    Reap(job_id, run, now);
    // Waiting for a scheduler's nodes, suspended by it, or ending: no rank can heartbeat, so
    // the clocks start again when they can.
    if (!run.workers->HeartbeatsDue()) {
      run.started = now;
      run.last_progress = now;
      for (double& last : run.last_heartbeat) last = last > 0 ? now : 0;
    }
    for (size_t rank = 0; rank < run.ended.size() && !run.stopping; ++rank) {
      if (run.ended[rank]) continue;
      const double last = run.last_heartbeat[rank];
      if ((last > 0 && now - last > options_.heartbeat_timeout_s) ||
          (last == 0 && now - run.started > options_.startup_timeout_s)) {
        Event(job_id,
              absl::StrCat("rank ", rank, " silent for ", now - std::max(last, run.started),
                           " s: stopping the attempt"),
              now);
        Stop(run, moe::v1::ATTEMPT_CAUSE_HEARTBEAT_TIMEOUT, now);
        run.kill_at = now;  // a hung worker may ignore SIGTERM
      }
    }
    if (const double limit = StallLimit(run);
        !run.stopping && limit > 0 && now - run.last_progress > limit) {
      Event(job_id,
            absl::StrCat("no step reported for ", now - run.last_progress, " s (the limit is ",
                         limit, " s: ", options_.stall_factor,
                         " x the median interval between reports, at least ", options_.stall_min_s,
                         " s) while no rank was saving or evaluating: a rank is stuck; stopping "
                         "the attempt"),
            now);
      Stop(run, moe::v1::ATTEMPT_CAUSE_STALLED, now);
      run.kill_at = now;  // a rank stuck in a collective cannot act on SIGTERM
    }
    if (run.stopping && now >= run.kill_at) {
      run.killed = true;
      run.workers->Signal(SIGKILL);
      run.kill_at = now + kKillAgain_s;  // until every rank is reaped (a scheduler may not hear)
    }
    if (std::all_of(run.ended.begin(), run.ended.end(), [](bool ended) { return ended; })) {
      Classify(run, now);
    }
  }
}

void Coordinator::FinishEnded(double now) {
  std::vector<int64_t> finished;
  for (const auto& [job_id, run] : running_) {
    // Ready once its unrecorded checkpoints were looked for (LookForUnrecorded); one whose end
    // the catalogue could not take waits for Reconcile.
    if (run.end && !run.unrecorded_end &&
        (run.end->cause == moe::v1::ATTEMPT_CAUSE_COMPLETED || run.unrecorded)) {
      finished.push_back(job_id);
    }
  }
  for (int64_t job_id : finished) {
    Running& run = running_[job_id];
    // While the catalogue fails, an end waits for Reconcile, which records the kept reports
    // first.
    if (catalogue_error_.empty() && Finish(job_id, run, now)) {
      running_.erase(job_id);
    } else {
      run.unrecorded_end = true;
      run.uses_slots = false;  // its workers are gone
    }
    ++version_;
  }
}

double Coordinator::StallLimit(const Running& run) const {
  if (options_.stall_factor <= 0 || run.report_intervals.size() < 3) return 0;
  std::vector<double> intervals(run.report_intervals.begin(), run.report_intervals.end());
  std::nth_element(intervals.begin(), intervals.begin() + intervals.size() / 2, intervals.end());
  return std::max(options_.stall_min_s, options_.stall_factor * intervals[intervals.size() / 2]);
}

void Coordinator::UpdateGauges(double now) {
  gauges_updated_ = now;
  metrics_.SetCatalogueWritable(catalogue_error_.empty(), backlog_.size());
  if (const auto counts = catalogue_.CountJobsByState(); counts.ok())
    metrics_.SetJobCounts(*counts);
  for (const auto& [job_id, run] : running_) {
    for (size_t rank = 0; rank < run.last_heartbeat.size(); ++rank) {
      const double last = run.last_heartbeat[rank] > 0 ? run.last_heartbeat[rank] : run.started;
      metrics_.SetHeartbeatAge(job_id, static_cast<int>(rank), now - last);
    }
    if (const auto checkpoints = catalogue_.ListCheckpoints(job_id);
        checkpoints.ok() && !checkpoints->empty()) {
      metrics_.SetCheckpointAge(job_id, now - checkpoints->front().committed_unix_s());
    }
  }
}

void Coordinator::Reap(int64_t job_id, Running& run, double now) {
  for (const auto& [rank, status] : run.workers->Reap()) {
    run.ended[rank] = true;
    run.wait_status[rank] = status;
    if (WIFEXITED(status) && WEXITSTATUS(status) == common::kExitOk) continue;
    Event(job_id,
          WIFEXITED(status)
              ? absl::StrCat("rank ", rank, " exited with code ", WEXITSTATUS(status))
              : absl::StrCat("rank ", rank, " was killed by signal ", WTERMSIG(status)),
          now);
    // One worker failed: the others cannot go on without it.
    Stop(run, moe::v1::ATTEMPT_CAUSE_UNSPECIFIED, now);
  }
}

void Coordinator::Stop(Running& run, AttemptCause cause, double now) {
  if (run.stopping) return;
  run.stopping = true;
  run.cause = cause;
  run.kill_at = now + options_.stop_grace_s;
  run.workers->Signal(SIGTERM);
}

void Coordinator::Classify(Running& run, double now) {
  // Classified once (the OOM-kill count moves on), then recorded, or retried until it is.
  AttemptExits exits;
  exits.wait_statuses = run.wait_status;
  exits.sigterm_sent = run.stopping;
  exits.sigkill_sent = run.killed;
  const std::optional<int64_t> oom_kills = OomKills();
  exits.oom_killer_struck = oom_kills && run.oom_kills && *oom_kills > *run.oom_kills;
  exits.scheduler_cause = run.workers->SchedulerCause();
  exits.moed_cause = run.cause;
  const AttemptCauseAndCode classified = ClassifyEnd(exits);
  run.end = AttemptEnd{classified.cause, classified.exit_code, classified.signal, now};
}

bool Coordinator::Finish(int64_t job_id, Running& run, double now) {
  bool restarted = false;
  absl::Status status = catalogue_.Begin();
  if (status.ok()) status = RecordEnd(job_id, run, &restarted);
  if (status.ok()) {
    status = catalogue_.Commit();
  } else {
    catalogue_.Rollback();
  }
  if (!status.ok()) {
    CatalogueFailed(status);
    return false;
  }
  metrics_.OnAttemptEnded(run.end->cause);
  if (restarted) metrics_.OnRestart(run.end->cause);
  return true;
}

absl::Status Coordinator::Note(int64_t job_id, const std::string& text, double now) {
  spdlog::info("job {}: {}", job_id, text);
  return catalogue_.AddEvent(job_id, text, now);
}

absl::Status Coordinator::RecordEnd(int64_t job_id, const Running& run, bool* restarted) {
  const AttemptEnd& end = *run.end;
  const AttemptCause cause = end.cause;
  const double now = end.time;
  // Ended by an earlier try whose job update failed after it: then not "already over".
  if (const absl::Status ended =
          catalogue_.EndAttempt(run.attempt_id, end.exit_code, end.signal, cause, now);
      !ended.ok() && !absl::IsFailedPrecondition(ended)) {
    return ended;
  }
  ASSIGN_OR_RETURN(const moe::v1::Job job, catalogue_.GetJob(job_id));
  RETURN_IF_ERROR(Note(
      job_id, absl::StrCat("attempt ", run.attempt_id, " ended: ", DescribeCause(cause)), now));
  if (cause != moe::v1::ATTEMPT_CAUSE_COMPLETED) {
    // A worker killed between committing a checkpoint and reporting it leaves one behind
    // (looked for off the lock, LookForUnrecorded).
    if (run.unrecorded) {
      RETURN_IF_ERROR(RecordUnrecorded(job_id, run.attempt_id, *run.unrecorded, now));
    }
  }
  JobHistory history;
  history.cancel_requested = run.cancel;
  history.moed_shutting_down = run.shutdown;
  history.committed_checkpoint = CommittedCheckpoint(job_id, run);
  history.out_of_memory_before_from_same_start = OutOfMemoryAgain(job_id, run);
  history.restarts = job.restarts();
  history.max_restarts = job.max_restarts();
  history.resume_from = run.resume_from;
  if (cause == moe::v1::ATTEMPT_CAUSE_OOM_KILLED) {
    history.memory_advice = OutOfMemoryAdvice(job.spec(), options_.memory,
                                              LauncherKind(job.spec()) == moe::v1::LAUNCHER_SLURM);
  }
  const JobDecision decision =
      DecideNext(cause, history, {options_.backoff_initial_s, options_.backoff_max_s});
  switch (decision.next) {
    case JobDecision::Next::kComplete:
      return catalogue_.SetState(job_id, moe::v1::JOB_STATE_COMPLETED, now);
    case JobDecision::Next::kCancel:
      return catalogue_.SetState(job_id, moe::v1::JOB_STATE_CANCELLED, now);
    case JobDecision::Next::kInterrupt:
      return catalogue_.SetState(job_id, moe::v1::JOB_STATE_INTERRUPTED, now);
    case JobDecision::Next::kFail:
      return catalogue_.SetState(job_id, moe::v1::JOB_STATE_FAILED, now, decision.failure);
    case JobDecision::Next::kSetAsideDamaged:
      return SetAsideDamaged(job_id, run.resume_from, now);
    case JobDecision::Next::kWaitForDisk: {
      const std::string path =
          run.disk_full_path.empty() ? OutputDirKey(job.spec()) : run.disk_full_path;
      const std::string waiting =
          absl::StrCat("disk full: waiting for ", run.disk_bytes_needed, " bytes free in ", path,
                       " (the save of the last attempt needed them)");
      RETURN_IF_ERROR(catalogue_.SetDiskWait(job_id, path, run.disk_bytes_needed, waiting));
      RETURN_IF_ERROR(catalogue_.SetState(job_id, moe::v1::JOB_STATE_QUEUED, now));
      return Note(job_id, waiting, now);
    }
    case JobDecision::Next::kRequeue:
      if (decision.charged) RETURN_IF_ERROR(catalogue_.SetRestarts(job_id, job.restarts() + 1));
      RETURN_IF_ERROR(catalogue_.SetNextStart(job_id, "", now + decision.backoff_s));
      RETURN_IF_ERROR(catalogue_.SetState(job_id, moe::v1::JOB_STATE_QUEUED, now));
      *restarted = decision.charged;
      return Note(job_id, decision.event, now);
  }
  return absl::InternalError("unknown decision");
}

absl::Status Coordinator::SetAsideDamaged(int64_t job_id, const std::string& path, double now) {
  ASSIGN_OR_RETURN(const auto checkpoints, catalogue_.ListCheckpoints(job_id));
  for (const moe::v1::Checkpoint& c : checkpoints) {
    if (c.path() != path) continue;
    RETURN_IF_ERROR(catalogue_.MarkCheckpointDamaged(job_id, c.step(), "failed verification"));
    metrics_.OnCheckpointFailed(job_id, "damaged");
    // The newest one before it (newest first), not the newest of all: a resume from an older
    // step asked for that step.
    std::string before;
    for (const moe::v1::Checkpoint& older : checkpoints) {
      if (older.step() < c.step()) {
        before = older.path();
        break;
      }
    }
    RETURN_IF_ERROR(Note(
        job_id,
        absl::StrCat("checkpoint ", path, " failed verification (see the rank logs): set aside, ",
                     before.empty() ? "no older one" : "resuming from " + before),
        now));
    RETURN_IF_ERROR(catalogue_.SetNextStart(job_id, before, now));  // "": the newest usable one
    return catalogue_.SetState(job_id, moe::v1::JOB_STATE_QUEUED, now);
  }
  // Not a checkpoint moed chose: nothing to fall back on without guessing.
  return catalogue_.SetState(job_id, moe::v1::JOB_STATE_FAILED, now,
                             absl::StrCat(path, " failed verification; not retried"));
}

bool Coordinator::CommittedCheckpoint(int64_t job_id, const Running& run) {
  const auto checkpoints = catalogue_.ListCheckpoints(job_id);
  if (!checkpoints.ok()) return false;
  return std::any_of(checkpoints->begin(), checkpoints->end(), [&](const moe::v1::Checkpoint& c) {
    return c.attempt_id() == run.attempt_id;
  });
}

bool Coordinator::OutOfMemoryAgain(int64_t job_id, const Running& run) {
  const auto attempts = catalogue_.ListAttempts(job_id);  // oldest first; this one is the last
  if (!attempts.ok() || attempts->size() < 2) return false;
  const moe::v1::Attempt& before = attempts->at(attempts->size() - 2);
  return before.cause() == moe::v1::ATTEMPT_CAUSE_OOM_KILLED &&
         before.resume_from() == run.resume_from;
}

void Coordinator::Schedule(double now) {
  const auto queued = catalogue_.JobsIn(moe::v1::JOB_STATE_QUEUED);
  if (!queued.ok()) {
    spdlog::error("scheduler: {}", queued.status().message());
    return;
  }
  // The device slots no running job holds, lowest first.
  std::vector<bool> held(options_.slots, false);
  for (const auto& [id, run] : running_) {
    if (!run.uses_slots) continue;
    for (int slot : run.devices) held[slot] = true;
  }
  std::vector<int> free;
  for (int slot = 0; slot < options_.slots; ++slot) {
    if (!held[slot]) free.push_back(slot);
  }
  for (const moe::v1::Job& job : *queued) {  // FIFO: the oldest job first
    const auto next = catalogue_.GetNextStart(job.id());
    if (next.ok() && next->not_before > now) continue;  // in its restart backoff
    if (next.ok() && !next->wait_path.empty() && !SpaceIsFree(job, *next, now)) continue;
    const auto launcher = LauncherFor(job.spec());  // Start says why when there is none
    const bool uses_slots = launcher.ok() && (*launcher)->UsesSlots();
    if (uses_slots && job.world_size() > static_cast<int>(free.size())) break;  // wait, in order
    std::vector<int> devices;
    if (uses_slots) devices.assign(free.begin(), free.begin() + job.world_size());
    const absl::Status started = Start(job, now, devices);
    if (absl::IsUnavailable(started) || absl::IsDeadlineExceeded(started)) {
      // The scheduler cannot take it now (slurmctld down): the job waits for it.
      const double retry = std::min(options_.backoff_max_s, 30.0);
      Event(
          job.id(),
          absl::StrCat("cannot start now: ", started.message(), "; trying again in ", retry, " s"),
          now);
      // Unrecorded, the job is simply tried again at the next pass.
      BestEffort(catalogue_.SetNextStart(job.id(), next.ok() ? next->resume_from : "", now + retry),
                 "record when to try a job again");
      continue;
    }
    if (!started.ok()) {
      Event(job.id(), absl::StrCat("cannot start: ", started.message()), now);
      // Unrecorded, the job stays queued and its start fails again, with the same event.
      BestEffort(catalogue_.SetState(job.id(), moe::v1::JOB_STATE_FAILED, now,
                                     std::string(started.message())),
                 "record that a job failed to start");
      continue;
    }
    if (uses_slots) free.erase(free.begin(), free.begin() + job.world_size());
    ++version_;
  }
}

bool Coordinator::SpaceIsFree(const moe::v1::Job& job, const Catalogue::NextStart& next,
                              double now) {
  // The nearest directory that exists (the checkpoint's own is gone with the failed save).
  fs::path dir = next.wait_path;
  std::error_code ec;
  while (!dir.empty() && dir != dir.root_path() && !fs::is_directory(dir, ec)) {
    dir = dir.parent_path();
  }
  const fs::space_info space = fs::space(dir.empty() ? fs::path(".") : dir, ec);
  // With no estimate (0), any room at all; a file system that cannot be asked stays waited on.
  if (ec || space.available < std::max<uint64_t>(next.wait_bytes, 1)) return false;
  Event(job.id(),
        absl::StrCat(space.available, " bytes are free in ", dir.string(),
                     " again: resuming from the newest committed checkpoint"),
        now);
  return catalogue_.SetDiskWait(job.id(), "", 0, "").ok();
}

absl::StatusOr<fs::path> Coordinator::SpecFileOf(const moe::v1::Job& job, double now) {
  ASSIGN_OR_RETURN(const bool restored, RestoreSpecFile(job));
  if (restored) {
    Event(job.id(),
          absl::StrCat(SpecFile(job).string(), " was missing: written again from the catalogue"),
          now);
  }
  return SpecFile(job);
}

absl::StatusOr<std::string> Coordinator::ResumePointOf(const moe::v1::Job& job, double now) {
  ASSIGN_OR_RETURN(const Catalogue::NextStart next, catalogue_.GetNextStart(job.id()));
  if (!next.resume_from.empty()) return next.resume_from;
  // The manifest is verified by the workers, which read it anyway.
  ASSIGN_OR_RETURN(const auto checkpoints, catalogue_.ListCheckpoints(job.id()));
  for (const moe::v1::Checkpoint& c : checkpoints) {
    std::error_code ec;
    // Only a directory that is surely gone is set aside; one that cannot be looked at now
    // (permissions, a disk not mounted yet) is tried, and the workers say why it fails.
    if (fs::exists(c.path(), ec) || ec) return c.path();
    RETURN_IF_ERROR(catalogue_.MarkCheckpointDamaged(job.id(), c.step(), "directory missing"));
    Event(job.id(), absl::StrCat("checkpoint ", c.path(), " is missing: set aside"), now);
  }
  return std::string();
}

LaunchRequest Coordinator::RequestFor(const moe::v1::Job& job, int64_t attempt_id,
                                      const fs::path& spec_file, const std::string& resume_from,
                                      const std::string& secret, const std::vector<int>& devices,
                                      const Launcher& launcher) const {
  LaunchRequest request;
  request.job_id = job.id();
  request.attempt_id = attempt_id;
  request.worker_binary = options_.worker_binary;
  request.spec = spec_file;
  request.log_dir = fs::path(job.job_dir()) / absl::StrCat("attempt-", attempt_id);
  request.world_size = job.world_size();
  request.resume_from = resume_from;
  request.coordinator = launcher.UsesSlots() ? worker_address_ : remote_worker_address_;
  request.slurm = job.spec().resources().slurm();
  request.extra_env = options_.worker_env;
  request.worker_secret = secret;
  if (launcher.UsesSlots()) request.devices = devices;
  request.extra_env.push_back(absl::StrCat(common::kOwnerVariable, "=",
                                           common::OwnerName(options_.catalogue_id, job.id())));
  // Four heartbeats per timeout, so one lost call is no alarm.
  request.extra_env.push_back(absl::StrCat("MOE_HEARTBEAT_S=", options_.heartbeat_timeout_s / 4));
  // The workers' own deadline ends before moed's SIGKILL, so they exit by themselves.
  request.extra_env.push_back(absl::StrCat(
      "MOE_STOP_GRACE_S=", options_.stop_grace_s - std::min(5.0, options_.stop_grace_s / 5)));
  return request;
}

absl::Status Coordinator::Start(const moe::v1::Job& job, double now,
                                const std::vector<int>& devices) {
  ASSIGN_OR_RETURN(const fs::path spec_file, SpecFileOf(job, now));
  ASSIGN_OR_RETURN(const std::string resume_from, ResumePointOf(job, now));
  const std::string secret = common::NewWorkerSecret();
  ASSIGN_OR_RETURN(const int64_t attempt_id,
                   catalogue_.StartAttempt(job.id(), job.world_size(), resume_from, now, secret));
  ASSIGN_OR_RETURN(Launcher* const chosen, LauncherFor(job.spec()));
  Launcher& launcher = *chosen;
  const LaunchRequest request =
      RequestFor(job, attempt_id, spec_file, resume_from, secret, devices, launcher);
  const std::optional<int64_t> oom_kills = OomKills();  // before any worker can be killed
  auto launched = launcher.Launch(request);
  if (!launched.ok()) {
    // The launch error is the one to tell; an attempt left open is ended at the next start.
    BestEffort(catalogue_.EndAttempt(attempt_id, 0, 0, moe::v1::ATTEMPT_CAUSE_CRASHED, now),
               "end an attempt that did not launch");
    return launched.status();
  }
  if (const std::string handle = (*launched)->handle(); !handle.empty()) {
    // Before anything else can fail: the next moed finds the workers by it.
    if (const absl::Status recorded = catalogue_.SetAttemptHandle(attempt_id, handle);
        !recorded.ok()) {
      (*launched)->Signal(SIGKILL);
      BestEffort(catalogue_.EndAttempt(attempt_id, 0, 0, moe::v1::ATTEMPT_CAUSE_CRASHED, now),
                 "end an attempt whose launch was not recorded");
      return recorded;
    }
  }
  absl::Status recorded = catalogue_.SetState(job.id(), moe::v1::JOB_STATE_RUNNING, now);
  if (recorded.ok()) recorded = catalogue_.SetNextStart(job.id(), "", 0);
  if (!recorded.ok()) {
    // No worker runs that the catalogue does not know of.
    (*launched)->Signal(SIGKILL);
    // The first error is the one to tell; the attempt row may stay open until the next start.
    BestEffort(catalogue_.EndAttempt(attempt_id, 0, 0, moe::v1::ATTEMPT_CAUSE_CRASHED, now),
               "end an attempt whose start was not recorded");
    return recorded;
  }
  Running& run = Track(job.id(), attempt_id, job.world_size(), *std::move(launched),
                       launcher.UsesSlots(), resume_from, secret, now);
  if (run.uses_slots) {
    run.oom_kills = oom_kills;  // moed's cgroup holds only local workers
    run.devices = request.devices;
  }
  const std::string handle = run.workers->handle();
  Event(job.id(),
        absl::StrCat("attempt ", attempt_id, " started on ", job.world_size(), " workers",
                     handle.empty() ? "" : " (" + handle + ")",
                     resume_from.empty() ? "" : ", resuming from " + resume_from),
        now);
  return absl::OkStatus();
}

void Coordinator::Shutdown(AttemptCause cause) {
  {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
    const double now = now_();
    for (auto it = running_.begin(); it != running_.end();) {
      auto& [job_id, run] = *it;
      // Workers that outlive moed go on, unless moed is already stopping them (a cancel).
      if (const std::string handle = run.workers->handle();
          !handle.empty() && !run.stopping && !run.end) {
        Event(job_id,
              absl::StrCat("moed is stopping: ", handle,
                           " goes on (re-attached when moed starts again)"),
              now);
        it = running_.erase(it);
        continue;
      }
      if (run.end) {  // its workers are gone; its end is recorded below or at the next start
        ++it;
        continue;
      }
      run.shutdown = true;
      Event(job_id, "moed is stopping: stopping the workers at a step with a checkpoint", now);
      Stop(run, cause, now);
      ++it;
    }
  }
  // Supervise until every worker is gone (SIGKILL after the grace period), with the lock free
  // between rounds so the workers can still report their stop checkpoints.
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      Supervise(now_());
      FinishEnded(now_());
      Reconcile(now_());
      // Attempts over but unrecorded (the catalogue failing) are recorded by the next start.
      if (std::all_of(running_.begin(), running_.end(),
                      [](const auto& entry) { return entry.second.unrecorded_end; })) {
        break;
      }
    }
    LookForUnrecorded();
    absl::SleepFor(absl::Milliseconds(50));
  }
  absl::MutexLock lock(&mu_);
  ++version_;
}

}  // namespace moe::server
