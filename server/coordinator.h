// moed's domain logic: the job queue, attempts and their supervision. The gRPC services are
// adapters over this class; it owns no socket.
//
// Scheduling is FIFO over a fixed number of device slots (CPU slots here; a job takes
// resources.world_size of them). An attempt runs one worker process per slot, started by a
// launcher (server/launcher.h): moed's children, or one Slurm batch job whose tasks are the
// ranks (those take no local slot: Slurm queues them). Supervision runs
// in Tick(), called every ~100 ms by moed's supervisor thread:
//   - a worker that exits non-zero, is killed, or stops heartbeating ends the whole attempt
//     (the others get SIGTERM, then SIGKILL after a grace period);
//   - the attempt's cause is recorded; a user error (exit code 2) fails the job; otherwise the
//     job is queued again to resume from its newest committed checkpoint after an exponential
//     backoff, until resources.max_restarts restarts are spent, then it fails with the cause.
// Recover(), at start-up, re-attaches to attempts whose workers outlive moed (Slurm jobs) and
// still run or left exit statuses; marks the other jobs left RUNNING by a dead moed or machine
// INTERRUPTED, adopts verified checkpoints the catalogue never heard of, and queues those jobs
// to resume.
//
// Thread-safe.
#ifndef MOE_SERVER_COORDINATOR_H_
#define MOE_SERVER_COORDINATOR_H_

#include <sys/types.h>

#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "moe/v1/service.pb.h"
#include "server/catalogue.h"
#include "server/catalogue_backlog.h"
#include "server/launcher.h"
#include "server/launcher_registry.h"
#include "server/memory_admission.h"
#include "server/metrics.h"
#include "server/path_policy.h"
#include "server/slurm_launcher.h"
#include "server/unrecorded_checkpoints.h"

namespace moe::server {

struct CoordinatorOptions {
  std::filesystem::path data_dir;   // jobs/<id>/ (spec, logs) lives here
  std::string worker_binary;        // moe-worker
  int slots = 1;                    // devices to schedule on
  double heartbeat_timeout_s = 60;  // a registered worker silent this long is hung
  double startup_timeout_s = 600;   // a worker that never registers within this is hung
  // The stall watchdog: an attempt whose step reports stop for stall_factor x their median
  // interval, and at least stall_min_s, while no rank says it is busy (saving, evaluating) is
  // stuck (ATTEMPT_CAUSE_STALLED). stall_factor 0 turns it off.
  double stall_factor = 10, stall_min_s = 120;
  double backoff_initial_s = 1, backoff_max_s = 60;  // doubled per restart
  // SIGTERM, then SIGKILL after this; workers get a little less to commit their checkpoint.
  double stop_grace_s = 30;
  std::vector<std::string> worker_env;  // extra NAME=VALUE for workers
  // Job specs may name paths under these only (none: anywhere).
  std::vector<std::filesystem::path> allowed_roots;
  // For jobs whose resources.launcher is unspecified.
  moe::v1::Launcher default_launcher = moe::v1::LAUNCHER_LOCAL;
  SlurmOptions slurm;
  std::string catalogue_id;  // the catalogue's identity (Catalogue::CatalogueId), for owner markers
  MachineMemory memory;      // what submitted jobs' memory plans are admitted against
};

class Coordinator {
 public:
  // `catalogue`, `metrics` and `launchers` must outlive this. `now` returns seconds since the epoch
  // (injected for tests).
  Coordinator(Catalogue& catalogue, CoordinatorMetrics& metrics, const LauncherRegistry& launchers,
              CoordinatorOptions options, std::function<double()> now);
  ~Coordinator();  // kills workers still running (moed shutting down marks them first)

  // Where workers report (moed's host:port), known once the server listens: `local` for
  // workers on this machine, `remote` for those on other machines (Slurm's nodes).
  void SetWorkerAddress(const std::string& local, const std::string& remote);
  // At start-up, before the first Tick.
  absl::Status Recover();

  // --- JobService -----------------------------------------------------------------------------
  // Queues a validated spec (paths absolute), all or nothing: the job's directory, its
  // job.yaml and its checkpoint directory's owner marker (common/output_owner.h) are written
  // and synced before its row commits. `unique_output_dir`: the spec's output_dir is a default,
  // and the job gets <output_dir>/<job id>. InvalidArgument if it cannot ever be scheduled,
  // PermissionDenied if it names a path outside the allowed roots, FailedPrecondition if its
  // output_dir belongs to another job or its files cannot be written.
  absl::StatusOr<moe::v1::Job> Submit(const moe::v1::JobSpec& spec, bool unique_output_dir = false);
  absl::StatusOr<moe::v1::Job> Cancel(int64_t job_id);
  // Queues a FAILED, CANCELLED or INTERRUPTED job again, from the checkpoint of `from_step` (0:
  // the newest committed one) on `world_size` workers (0: as before).
  absl::StatusOr<moe::v1::Job> Resume(int64_t job_id, int64_t from_step, int32_t world_size);
  // Removes an ended job from the catalogue; with `files`, also its job directory and its
  // checkpoint directory (only while that directory's owner marker names the job). Returns the
  // directories removed. FailedPrecondition for a job that has not ended.
  absl::StatusOr<moe::v1::DeleteJobResponse> Delete(int64_t job_id, bool files);
  // The log file of `rank` in the job's newest attempt (or `attempt_id`).
  absl::StatusOr<std::filesystem::path> LogPath(int64_t job_id, int64_t attempt_id, int rank);

  // --- WorkerService --------------------------------------------------------------------------
  // Each returns whether the worker's job wants it to stop. `token` is the call's worker token
  // (common/worker_token.h): PermissionDenied unless it is the one moed gave that rank of that
  // attempt of that job; FailedPrecondition for a worker of an attempt that is not running (a
  // straggler).
  absl::StatusOr<bool> Heartbeat(const moe::v1::WorkerRef& worker, const std::string& token);
  absl::StatusOr<bool> ReportSteps(const moe::v1::WorkerRef& worker, const std::string& token,
                                   const std::vector<moe::v1::StepMetrics>& steps);
  // Recorded only if the directory is the job's own checkpoint of that step, exists, and its
  // manifest verifies (every listed file there with its size; checked off the lock) and has the
  // reported SHA-256; InvalidArgument or DataLoss naming the problem otherwise.
  absl::StatusOr<bool> ReportCheckpoint(const moe::v1::WorkerRef& worker, const std::string& token,
                                        moe::v1::Checkpoint checkpoint);
  // A save that failed: an event and a metric (the job trains on from its previous checkpoint,
  // or, for a final or stop save, its workers exit); disk full is remembered for the attempt's
  // end (ATTEMPT_CAUSE_DISK_FULL: the job waits for the space the save needed).
  absl::StatusOr<bool> ReportCheckpointFailure(
      const std::string& token, const moe::v1::ReportCheckpointFailureRequest& failure);

  // --- supervision ----------------------------------------------------------------------------
  void Tick();
  // moed is going away: stops every attempt gracefully (each worker commits a checkpoint of
  // the step they agree on, within the grace period), records it with `cause` (PREEMPTED for
  // SIGTERM or a spot notice), marks its job INTERRUPTED (resumed at the next start) and
  // returns once every worker is gone. Attempts whose workers outlive moed (Slurm jobs) go on
  // running, re-attached at the next start. Nothing is scheduled afterwards.
  void Shutdown(moe::v1::AttemptCause cause = moe::v1::ATTEMPT_CAUSE_PREEMPTED);
  // Bumped on every change a watcher may want (state, steps, checkpoints).
  int64_t version() const;

 private:
  // How an attempt ended, decided once when its last worker was reaped.
  struct AttemptEnd {
    moe::v1::AttemptCause cause = moe::v1::ATTEMPT_CAUSE_UNSPECIFIED;
    int32_t exit_code = 0, signal = 0;
    double time = 0;
  };

  struct Running {
    int64_t attempt_id = 0;
    int32_t world_size = 0;
    std::unique_ptr<WorkerGroup> workers;
    bool uses_slots = true;              // local workers: they take moed's device slots
    std::vector<int> devices;            // the slots they hold (uses_slots), rank r on [r]
    std::vector<bool> ended;             // by rank, once reaped
    std::vector<int> wait_status;        // by rank, once reaped
    std::vector<double> last_heartbeat;  // by rank; 0 before it registered
    double started = 0;
    bool stopping = false;                // SIGTERM sent
    double kill_at = 0;                   // SIGKILL after this
    bool killed = false;                  // SIGKILL sent
    bool resumed = false;                 // started from a checkpoint
    std::string resume_from;              // that checkpoint's directory
    std::string worker_secret;            // each rank's token derives from it
    std::string disk_full_path;           // a save that failed for lack of space, and what it
    uint64_t disk_bytes_needed = 0;       // needed there
    std::optional<int64_t> oom_kills;     // the kernel's OOM kills in moed's cgroup at the start
    bool reported = false;                // a step report arrived
    double last_report = 0;               // when the last one arrived
    double last_progress = 0;             // a step report, or a rank said it was busy
    std::deque<double> report_intervals;  // the last few, for their median
    bool cancel = false;                  // a user asked
    bool shutdown = false;                // moed is going away
    // Set when moed ended the attempt (cancel, hang, shutdown); otherwise the workers' exit
    // statuses tell.
    moe::v1::AttemptCause cause = moe::v1::ATTEMPT_CAUSE_UNSPECIFIED;
    // Every worker reaped: how it ended (Classify).
    std::optional<AttemptEnd> end;
    // Unless it completed, its output directory's unrecorded checkpoints, looked for off the
    // lock (LookForUnrecorded) before the end is recorded.
    std::optional<Unrecorded> unrecorded;
    // The catalogue could not record the end: kept (taking no slot) for Reconcile.
    bool unrecorded_end = false;
  };

  // The stall watchdog's limit for `run` in seconds; 0 while it cannot tell (off, or fewer than
  // three intervals between step reports seen).
  double StallLimit(const Running& run) const;
  // Reaps workers, catches silent and stalled ones, escalates to SIGKILL and classifies the
  // attempts whose ranks all ended.
  void Supervise(double now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records the attempts that are over and ready (FinishEnded erases them from running_).
  void FinishEnded(double now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Reap(int64_t job_id, Running& run, double now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Stop(Running& run, moe::v1::AttemptCause cause, double now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether the attempt committed a checkpoint (it made progress a restart keeps).
  bool CommittedCheckpoint(int64_t job_id, const Running& run) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // An attempt that ran out of memory from the same start as the one before it, which did too:
  // retrying cannot help.
  bool OutOfMemoryAgain(int64_t job_id, const Running& run) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The attempt is over (every worker reaped): decides how (once) and records it and the job's
  // next state in one transaction. False when the catalogue could not be written (the run is
  // kept, and Reconcile tries again).
  bool Finish(int64_t job_id, Running& run, double now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sets run.end from the ranks' exit statuses and moed's actions.
  void Classify(Running& run, double now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status RecordEnd(int64_t job_id, const Running& run, bool* restarted)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // An event of the job: logged, and recorded (its status returned).
  absl::Status Note(int64_t job_id, const std::string& text, double now);
  // A catalogue write whose failure the caller cannot act on, and which a later pass repairs
  // (each call site says how): a failure is logged and counted, never silently dropped.
  void BestEffort(const absl::Status& written, absl::string_view what);
  // A catalogue write failed: says so loudly (log, metric), takes no new jobs, keeps reports.
  void CatalogueFailed(const absl::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // While the catalogue is failing: writes the backlog and the unrecorded attempt ends, in
  // order, once a second; when all are written the catalogue is healthy again.
  void Reconcile(double now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Schedule(double now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether a job held back for disk space (`next`) may start: releases the hold once the
  // space is there.
  bool SpaceIsFree(const moe::v1::Job& job, const Catalogue::NextStart& next, double now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The attempt could not resume from `path` (it failed verification): marks it damaged and
  // queues the job from the newest checkpoint before it; fails the job if moed did not pick it.
  absl::Status SetAsideDamaged(int64_t job_id, const std::string& path, double now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts an attempt of a queued job: its spec file, where it resumes from, the launch, and
  // the catalogue's record of it, in that order; no worker runs that the catalogue does not know.
  // `devices`: the free device slots it takes (its launcher UsesSlots), one per rank.
  absl::Status Start(const moe::v1::Job& job, double now, const std::vector<int>& devices)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The workers' job.yaml (server/job_files.h), written again from the catalogue when it went
  // missing (a job directory deleted by hand).
  absl::StatusOr<std::filesystem::path> SpecFileOf(const moe::v1::Job& job, double now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Where the next attempt resumes: the one chosen for it, else the newest checkpoint whose
  // directory exists (one surely gone is set aside); "" for none.
  absl::StatusOr<std::string> ResumePointOf(const moe::v1::Job& job, double now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // What `launcher` needs to start attempt `attempt_id` of `job`.
  LaunchRequest RequestFor(const moe::v1::Job& job, int64_t attempt_id,
                           const std::filesystem::path& spec_file, const std::string& resume_from,
                           const std::string& secret, const std::vector<int>& devices,
                           const Launcher& launcher) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The launcher of a job of `spec` (InvalidArgument when this moed has none for it).
  absl::StatusOr<Launcher*> LauncherFor(const moe::v1::JobSpec& spec) const;
  // resources.launcher, or moed's default when unset.
  moe::v1::Launcher LauncherKind(const moe::v1::JobSpec& spec) const;
  // Starts supervising `workers`, attempt `attempt_id` of job `job_id`, from `now`.
  Running& Track(int64_t job_id, int64_t attempt_id, int32_t world_size,
                 std::unique_ptr<WorkerGroup> workers, bool uses_slots,
                 const std::string& resume_from, const std::string& worker_secret, double now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // At start-up: follows the open attempt of a job left RUNNING again, if its workers outlive
  // moed and are still known to their launcher. False when there is nothing to re-attach to.
  bool Reattach(const moe::v1::Job& job, double now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records the newest checkpoint in the job's output directory that is newer than every one
  // the catalogue knows, was committed after the job was submitted, and verifies (committed,
  // but its report never arrived).
  absl::Status AdoptUnrecorded(const moe::v1::Job& job, double now);
  // AdoptUnrecorded's second half, after FindUnrecorded (server/unrecorded_checkpoints.h): the
  // events and the checkpoint, in the caller's transaction.
  absl::Status RecordUnrecorded(int64_t job_id, int64_t attempt_id, const Unrecorded& found,
                                double now);
  // For every attempt that ended other than completed: FindUnrecorded with the lock released,
  // the result kept in its Running for Finish.
  void LookForUnrecorded() ABSL_LOCKS_EXCLUDED(mu_);
  // Deletes committed checkpoints beyond the spec's keep_last (never the newest).
  void ApplyRetention(int64_t job_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The running attempt `worker` belongs to, if `token` proves it (see Heartbeat).
  absl::StatusOr<Running*> RunningAttempt(const moe::v1::WorkerRef& worker,
                                          const std::string& token)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Event(int64_t job_id, const std::string& text, double now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Refreshes the gauges moed computes rather than receives (job counts, ages).
  void UpdateGauges(double now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Catalogue& catalogue_;
  CoordinatorMetrics& metrics_;
  const CoordinatorOptions options_;
  const std::function<double()> now_;
  const PathPolicy paths_;
  const LauncherRegistry& launchers_;

  mutable absl::Mutex mu_;
  std::map<int64_t, Running> running_ ABSL_GUARDED_BY(mu_);  // by job id
  std::string worker_address_ ABSL_GUARDED_BY(mu_), remote_worker_address_ ABSL_GUARDED_BY(mu_);
  int64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  double gauges_updated_ ABSL_GUARDED_BY(mu_) = 0;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  std::string catalogue_error_ ABSL_GUARDED_BY(mu_);  // "" while writes succeed
  // What the catalogue could not take yet (written by Reconcile); attempts that ended
  // unrecorded stay in running_.
  CatalogueBacklog backlog_ ABSL_GUARDED_BY(mu_);
  double next_reconcile_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace moe::server

#endif  // MOE_SERVER_COORDINATOR_H_
