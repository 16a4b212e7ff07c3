// The catalogue: moed's SQLite database of jobs, attempts, checkpoints, step metrics and
// events. This class owns the connection and every SQL statement. The database runs in WAL
// mode with synchronous=FULL, so a call that returned OK survives a power cut (a recorded
// checkpoint commit above all). The schema is versioned (PRAGMA user_version) and migrated
// forward on Open; a database from a newer moed is refused rather than misread.
//
// Thread-safe: calls are serialised on one connection. Other processes (sqlite3, a second
// reader) may read while moed writes.
#ifndef MOE_SERVER_CATALOGUE_H_
#define MOE_SERVER_CATALOGUE_H_

#include <sqlite3.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "moe/v1/service.pb.h"

namespace moe::server {

class Catalogue {
 public:
  // Opens (creating) the database at `path`, or an in-memory one for ":memory:", and migrates
  // it to the current schema. FailedPrecondition if it was written by a newer schema.
  // A catalogue whose structure is damaged (PRAGMA quick_check) is refused with DataLoss
  // naming it and how to recover. Before migrating an older schema it copies the database to
  // `path`.before-v<kSchemaVersion>.
  static absl::StatusOr<std::unique_ptr<Catalogue>> Open(const std::string& path);
  // The full check (PRAGMA integrity_check) of the catalogue at `path`, read-only, safe while
  // moed runs: OK, DataLoss listing the problems and the way out, or NotFound.
  static absl::Status Check(const std::string& path);
  // An online copy of the catalogue at `path` (SQLite's backup API; consistent while moed
  // writes) into the new file `destination`. AlreadyExists if it exists.
  static absl::Status Backup(const std::string& path, const std::string& destination);
  ~Catalogue();

  static constexpr int kSchemaVersion = 6;
  absl::StatusOr<int> SchemaVersion();

  // Several calls as one transaction: Begin, the calls, then Commit (or Rollback on the first
  // error). The caller makes sure no other thread writes meanwhile (moed: the coordinator's
  // lock); calls that open their own transaction (CreateJob, AddSteps, DeleteJob) may not be
  // among them.
  absl::Status Begin();
  absl::Status Commit();
  void Rollback();

  // --- jobs -----------------------------------------------------------------------------------
  // A new QUEUED job, all or nothing: in one transaction, inserts its row, calls `prepare` with
  // its id (which may write the job's files and returns the spec and job directory to keep),
  // stores what it returned and commits. When `prepare` fails nothing is kept and its status is
  // returned. `prepare` must not call the catalogue. Returns the job's id.
  struct PreparedJob {
    moe::v1::JobSpec spec;
    std::string job_dir;
  };
  using Prepare = std::function<absl::StatusOr<PreparedJob>(int64_t id)>;
  absl::StatusOr<int64_t> CreateJob(const moe::v1::JobSpec& spec, double now,
                                    const Prepare& prepare);
  // The same, with nothing to prepare.
  absl::StatusOr<int64_t> CreateJob(const moe::v1::JobSpec& spec, const std::string& job_dir,
                                    double now);
  // The jobs whose checkpoint directory is `output_dir` (an OutputDirKey), oldest first.
  absl::StatusOr<std::vector<std::pair<int64_t, moe::v1::JobState>>> JobsWithOutputDir(
      const std::string& output_dir);
  // This catalogue's random identity, made with it (names the owner of output directories).
  absl::StatusOr<std::string> CatalogueId();
  absl::StatusOr<moe::v1::Job> GetJob(int64_t id);
  absl::StatusOr<std::vector<moe::v1::Job>> ListJobs();
  // One page of job summaries (spec left empty): in `states` (none: all), newest first unless
  // `oldest_first`, after the job `after_id` in that order (0: from the first), at most `limit`.
  struct JobQuery {
    std::vector<moe::v1::JobState> states;
    bool oldest_first = false;
    int64_t after_id = 0;
    int limit = 100;
  };
  absl::StatusOr<std::vector<moe::v1::Job>> ListJobSummaries(const JobQuery& query);
  // Removes job `id` and everything recorded of it (attempts, checkpoints, steps, events) in
  // one transaction. NotFound for an unknown job. The caller checks that it has ended.
  absl::Status DeleteJob(int64_t id);
  // How many jobs are in each state (states without jobs are absent).
  absl::StatusOr<std::map<moe::v1::JobState, int>> CountJobsByState();
  // Jobs in `state`, oldest first.
  absl::StatusOr<std::vector<moe::v1::Job>> JobsIn(moe::v1::JobState state);
  // Moves job `id` to `to`, atomically, if AllowedTransition(its state, to); FailedPrecondition
  // naming both states otherwise, NotFound for an unknown job. `failure` is kept with FAILED.
  absl::Status SetState(int64_t id, moe::v1::JobState to, double now,
                        const std::string& failure = "");
  absl::Status SetJobDir(int64_t id, const std::string& job_dir);
  absl::Status SetRestarts(int64_t id, int32_t restarts);
  absl::Status SetWorldSize(int64_t id, int32_t world_size);
  // Where the job's next attempt starts: a checkpoint directory ("" = the newest committed one)
  // and not before `not_before` (the restart backoff).
  absl::Status SetNextStart(int64_t id, const std::string& resume_from, double not_before);
  struct NextStart {
    std::string resume_from;
    double not_before = 0;
    // Held back until the file system of `wait_path` has `wait_bytes` free ("": no wait).
    std::string wait_path;
    uint64_t wait_bytes = 0;
  };
  absl::StatusOr<NextStart> GetNextStart(int64_t id);
  // Holds the job back until `path`'s file system has `bytes` free (Job.waiting says so in
  // `waiting`); "" and 0 release it.
  absl::Status SetDiskWait(int64_t id, const std::string& path, uint64_t bytes,
                           const std::string& waiting);

  // --- attempts -------------------------------------------------------------------------------
  // `worker_secret` (common/worker_token.h) is kept with the attempt and returned only by
  // WorkerSecret, never in an Attempt message.
  absl::StatusOr<int64_t> StartAttempt(int64_t job_id, int32_t world_size,
                                       const std::string& resume_from, double now,
                                       const std::string& worker_secret = "");
  absl::StatusOr<std::string> WorkerSecret(int64_t attempt_id);
  // Where attempt `id`'s workers run outside moed (Launcher handle), durable when this returns.
  absl::Status SetAttemptHandle(int64_t id, const std::string& handle);
  // Records how attempt `id` ended; FailedPrecondition if it already had.
  absl::Status EndAttempt(int64_t id, int32_t exit_code, int32_t signal,
                          moe::v1::AttemptCause cause, double now);
  absl::StatusOr<moe::v1::Attempt> GetAttempt(int64_t id);
  absl::StatusOr<std::vector<moe::v1::Attempt>> ListAttempts(int64_t job_id);

  // --- checkpoints ----------------------------------------------------------------------------
  // Records a committed checkpoint (idempotent for the same job and step: the newer report
  // wins). Durable when this returns.
  absl::Status AddCheckpoint(const moe::v1::Checkpoint& checkpoint);
  // The job's usable checkpoints: committed, not deleted by retention and not found damaged,
  // newest step first.
  absl::StatusOr<std::vector<moe::v1::Checkpoint>> ListCheckpoints(int64_t job_id);
  absl::Status MarkCheckpointDeleted(int64_t job_id, int64_t step);
  // Sets aside a checkpoint that failed verification when a resume tried it (its files stay,
  // for inspection). A later commit of the same step (AddCheckpoint) makes it usable again.
  absl::Status MarkCheckpointDamaged(int64_t job_id, int64_t step, const std::string& why);

  // --- steps and events -----------------------------------------------------------------------
  // Appends step metrics in one transaction, and the job's last step / total steps.
  absl::Status AddSteps(int64_t job_id, int64_t attempt_id,
                        const std::vector<moe::v1::StepMetrics>& steps);
  // Step metrics with step > after_step, in order (the newest attempt's for a step reported
  // twice, e.g. after a restart).
  absl::StatusOr<std::vector<moe::v1::StepMetrics>> StepsAfter(int64_t job_id, int64_t after_step);
  absl::Status AddEvent(int64_t job_id, const std::string& text, double now);
  absl::StatusOr<std::vector<std::string>> Events(int64_t job_id);

 private:
  explicit Catalogue(sqlite3* db) : db_(db) {}
  absl::Status Migrate() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<int64_t> InsertJob(const moe::v1::JobSpec& spec, double now,
                                    const Prepare& prepare) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  sqlite3* const db_ ABSL_PT_GUARDED_BY(mu_);
};

// The job state machine: QUEUED -> RUNNING -> COMPLETED | FAILED | CANCELLED | INTERRUPTED;
// RUNNING -> QUEUED (a restart); QUEUED -> CANCELLED | FAILED; FAILED, CANCELLED and
// INTERRUPTED -> QUEUED (resume). COMPLETED is final.
bool AllowedTransition(moe::v1::JobState from, moe::v1::JobState to);

// True for COMPLETED, FAILED and CANCELLED (INTERRUPTED jobs come back by themselves).
bool IsFinal(moe::v1::JobState state);

// A state as people say it: "running", "completed".
std::string StateName(moe::v1::JobState state);

// How the catalogue compares checkpoint directories: the spec's (absolute) output_dir,
// lexically normalised.
std::string OutputDirKey(const moe::v1::JobSpec& spec);

}  // namespace moe::server

#endif  // MOE_SERVER_CATALOGUE_H_
