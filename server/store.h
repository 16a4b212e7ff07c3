// The catalogue: moed's SQLite database of jobs, attempts, checkpoints, step metrics and
// events. This class owns the connection and every SQL statement. The database runs in WAL
// mode with synchronous=FULL, so a call that returned OK survives a power cut (a recorded
// checkpoint commit above all). The schema is versioned (PRAGMA user_version) and migrated
// forward on Open; a database from a newer moed is refused rather than misread.
//
// Thread-safe: calls are serialised on one connection. Other processes (sqlite3, a second
// reader) may read while moed writes.
#ifndef MOE_SERVER_STORE_H_
#define MOE_SERVER_STORE_H_

#include <sqlite3.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "moe/v1/service.pb.h"

namespace moe::server {

class Store {
 public:
  // Opens (creating) the database at `path`, or an in-memory one for ":memory:", and migrates
  // it to the current schema. FailedPrecondition if it was written by a newer schema.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& path);
  ~Store();

  static constexpr int kSchemaVersion = 3;
  absl::StatusOr<int> SchemaVersion();

  // --- jobs -----------------------------------------------------------------------------------
  // A new QUEUED job; returns its id.
  absl::StatusOr<int64_t> CreateJob(const moe::v1::JobSpec& spec, const std::string& job_dir,
                                    double now);
  absl::StatusOr<moe::v1::Job> GetJob(int64_t id);
  absl::StatusOr<std::vector<moe::v1::Job>> ListJobs();
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
  };
  absl::StatusOr<NextStart> GetNextStart(int64_t id);

  // --- attempts -------------------------------------------------------------------------------
  absl::StatusOr<int64_t> StartAttempt(int64_t job_id, int32_t world_size,
                                       const std::string& resume_from, double now);
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
  explicit Store(sqlite3* db) : db_(db) {}
  absl::Status Migrate() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  sqlite3* const db_ ABSL_PT_GUARDED_BY(mu_);
};

// The job state machine: QUEUED -> RUNNING -> COMPLETED | FAILED | CANCELLED | INTERRUPTED;
// RUNNING -> QUEUED (a restart); QUEUED -> CANCELLED | FAILED; FAILED, CANCELLED and
// INTERRUPTED -> QUEUED (resume). COMPLETED is final.
bool AllowedTransition(moe::v1::JobState from, moe::v1::JobState to);

}  // namespace moe::server

#endif  // MOE_SERVER_STORE_H_
