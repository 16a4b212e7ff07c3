#include "server/catalogue.h"

#include <filesystem>
#include <map>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "server/catalogue_schema.h"

namespace moe::server {
namespace {

using moe::v1::JobState;

constexpr char kJobColumns[] =
    "id, name, state, spec_json, job_dir, world_size, restarts, max_restarts, failure, "
    "submitted, updated, step, total_steps, waiting";
constexpr char kAttemptColumns[] =
    "id, job_id, world_size, resume_from, started, ended, exit_code, signal, cause, "
    "launcher_handle";
constexpr char kCheckpointColumns[] =
    "job_id, attempt_id, step, epoch, data_position, world_size, path, bytes, manifest_sha256, "
    "committed, save_seconds, stall_seconds, async, interval_steps, interval_why";

absl::Status SqlError(sqlite3* db, const std::string& what) {
  return absl::InternalError(absl::StrCat("catalogue: ", what, ": ", sqlite3_errmsg(db)));
}

// One prepared statement; Bind* fill the ? placeholders in order.
class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql) : db_(db), sql_(sql) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr) != SQLITE_OK) {
      status_ = SqlError(db, "prepare " + sql);
    }
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement& Bind(int64_t v) {
    if (status_.ok()) sqlite3_bind_int64(stmt_, ++bound_, v);
    return *this;
  }
  Statement& Bind(double v) {
    if (status_.ok()) sqlite3_bind_double(stmt_, ++bound_, v);
    return *this;
  }
  Statement& Bind(const std::string& v) {
    if (status_.ok()) sqlite3_bind_text(stmt_, ++bound_, v.data(), v.size(), SQLITE_TRANSIENT);
    return *this;
  }
  // Steps to the next row: true with a row, false when done or failed (then see status()).
  bool Next() {
    if (!status_.ok()) return false;
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) status_ = SqlError(db_, sql_);
    return false;
  }
  // Makes the statement ready to be bound and run again.
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    bound_ = 0;
  }
  // Runs a statement that returns no rows.
  absl::Status Run() {
    while (Next()) {
    }
    return status_;
  }
  const absl::Status& status() const { return status_; }
  int64_t Int(int column) { return sqlite3_column_int64(stmt_, column); }
  double Real(int column) { return sqlite3_column_double(stmt_, column); }
  std::string Text(int column) {
    const auto* text = sqlite3_column_text(stmt_, column);
    return text ? reinterpret_cast<const char*>(text) : "";
  }

 private:
  sqlite3* db_;
  std::string sql_;
  sqlite3_stmt* stmt_ = nullptr;
  int bound_ = 0;
  absl::Status status_;
};

absl::Status Exec(sqlite3* db, const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) == SQLITE_OK) return absl::OkStatus();
  const std::string message = error ? error : "unknown error";
  sqlite3_free(error);
  return absl::InternalError(absl::StrCat("catalogue: ", message));
}

absl::StatusOr<moe::v1::Job> JobFrom(Statement& s) {
  moe::v1::Job job;
  job.set_id(s.Int(0));
  job.set_name(s.Text(1));
  job.set_state(static_cast<JobState>(s.Int(2)));
  const auto parsed = google::protobuf::util::JsonStringToMessage(s.Text(3), job.mutable_spec());
  if (!parsed.ok()) {
    return absl::DataLossError(
        absl::StrCat("catalogue: job ", job.id(), " spec: ", std::string(parsed.message())));
  }
  job.set_job_dir(s.Text(4));
  job.set_world_size(static_cast<int32_t>(s.Int(5)));
  job.set_restarts(static_cast<int32_t>(s.Int(6)));
  job.set_max_restarts(static_cast<int32_t>(s.Int(7)));
  job.set_failure(s.Text(8));
  job.set_submitted_unix_s(s.Real(9));
  job.set_updated_unix_s(s.Real(10));
  job.set_step(s.Int(11));
  job.set_total_steps(s.Int(12));
  job.set_waiting(s.Text(13));
  return job;
}

// Every row of a job query.
absl::StatusOr<std::vector<moe::v1::Job>> AllJobs(Statement& s) {
  std::vector<moe::v1::Job> jobs;
  while (s.Next()) {
    ASSIGN_OR_RETURN(moe::v1::Job job, JobFrom(s));
    jobs.push_back(std::move(job));
  }
  RETURN_IF_ERROR(s.status());
  return jobs;
}

moe::v1::Attempt AttemptFrom(Statement& s) {
  moe::v1::Attempt a;
  a.set_id(s.Int(0));
  a.set_job_id(s.Int(1));
  a.set_world_size(static_cast<int32_t>(s.Int(2)));
  a.set_resume_from(s.Text(3));
  a.set_started_unix_s(s.Real(4));
  a.set_ended_unix_s(s.Real(5));
  a.set_exit_code(static_cast<int32_t>(s.Int(6)));
  a.set_signal(static_cast<int32_t>(s.Int(7)));
  a.set_cause(static_cast<moe::v1::AttemptCause>(s.Int(8)));
  a.set_launcher_handle(s.Text(9));
  return a;
}

moe::v1::Checkpoint CheckpointFrom(Statement& s) {
  moe::v1::Checkpoint c;
  c.set_job_id(s.Int(0));
  c.set_attempt_id(s.Int(1));
  c.set_step(s.Int(2));
  c.set_epoch(s.Int(3));
  c.set_data_position(static_cast<uint64_t>(s.Int(4)));
  c.set_world_size(static_cast<int32_t>(s.Int(5)));
  c.set_path(s.Text(6));
  c.set_bytes(static_cast<uint64_t>(s.Int(7)));
  c.set_manifest_sha256(s.Text(8));
  c.set_committed_unix_s(s.Real(9));
  c.set_save_seconds(s.Real(10));
  c.set_stall_seconds(s.Real(11));
  c.set_async(s.Int(12) != 0);
  c.set_interval_steps(s.Int(13));
  c.set_interval_why(s.Text(14));
  return c;
}

absl::StatusOr<std::string> SpecJson(const moe::v1::JobSpec& spec) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(spec, &json, options).ok()) {
    return absl::InternalError("catalogue: cannot encode the spec");
  }
  return json;
}

absl::StatusOr<int64_t> UserVersion(sqlite3* db) {
  Statement version(db, "PRAGMA user_version");
  if (!version.Next()) {
    RETURN_IF_ERROR(version.status());
    return absl::InternalError("catalogue: no user_version");
  }
  return version.Int(0);
}

// OK when `pragma` (quick_check or integrity_check) finds nothing; DataLoss listing the first
// problems otherwise.
absl::Status IntegrityProblems(sqlite3* db, const char* pragma) {
  Statement check(db, absl::StrCat("PRAGMA ", pragma, "(10)"));
  std::vector<std::string> problems;
  while (check.Next()) {
    if (std::string row = check.Text(0); row != "ok") problems.push_back(std::move(row));
  }
  if (!check.status().ok()) return absl::DataLossError(check.status().message());
  if (problems.empty()) return absl::OkStatus();
  return absl::DataLossError(absl::StrJoin(problems, "; "));
}

// The catalogue at `path` is damaged: what to do about it.
absl::Status Damaged(const std::string& path, const absl::Status& problem) {
  return absl::DataLossError(absl::StrCat(
      "catalogue ", path, " is damaged (", problem.message(),
      "); moed will not use it. Restore a backup (moed backup FILE makes one; moed keeps ", path,
      ".before-vN from before each schema change), or move it aside to start with an empty "
      "catalogue: interrupted jobs are then lost to moed, their checkpoints stay on disk"));
}

// An online copy of `from` into the new file `destination` (SQLite's backup API), durable.
absl::Status CopyDatabase(sqlite3* from, const std::string& destination) {
  sqlite3* to = nullptr;
  absl::Status status;
  if (sqlite3_open_v2(destination.c_str(), &to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      nullptr) != SQLITE_OK) {
    status = SqlError(to, absl::StrCat("cannot create ", destination));
  }
  sqlite3_backup* backup = status.ok() ? sqlite3_backup_init(to, "main", from, "main") : nullptr;
  if (status.ok() && backup == nullptr) status = SqlError(to, "backup");
  int rc = SQLITE_OK;
  while (backup != nullptr && (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED)) {
    rc = sqlite3_backup_step(backup, 256);
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) sqlite3_sleep(10);
  }
  if (backup != nullptr) {
    sqlite3_backup_finish(backup);
    if (rc != SQLITE_DONE) {
      status =
          absl::InternalError(absl::StrCat("backup to ", destination, ": ", sqlite3_errstr(rc)));
    }
  }
  if (status.ok()) status = Exec(to, "PRAGMA wal_checkpoint(TRUNCATE);");
  sqlite3_close(to);
  return status;
}

// Migration 4's data step: jobs.output_dir from each job's spec.
absl::Status BackfillOutputDirs(sqlite3* db) {
  Statement jobs(db, "SELECT id, spec_json FROM jobs");
  Statement update(db, "UPDATE jobs SET output_dir = ? WHERE id = ?");
  while (jobs.Next()) {
    moe::v1::JobSpec spec;
    if (!google::protobuf::util::JsonStringToMessage(jobs.Text(1), &spec).ok()) continue;
    update.Reset();
    update.Bind(OutputDirKey(spec)).Bind(jobs.Int(0));
    RETURN_IF_ERROR(update.Run());
  }
  return jobs.status();
}

// Why job `id` cannot go from `from` to `to`, in words: "job 3 has already completed: it
// cannot be cancelled".
std::string TransitionRefused(int64_t id, JobState from, JobState to) {
  std::string is;
  switch (from) {
    case moe::v1::JOB_STATE_COMPLETED:
      is = "has already completed";
      break;
    case moe::v1::JOB_STATE_FAILED:
      is = "has failed";
      break;
    case moe::v1::JOB_STATE_CANCELLED:
      is = "was cancelled";
      break;
    default:
      is = absl::StrCat("is ", StateName(from));
  }
  const char* becoming = "changed so";
  switch (to) {
    case moe::v1::JOB_STATE_CANCELLED:
      becoming = "cancelled";
      break;
    case moe::v1::JOB_STATE_QUEUED:
      becoming = "queued again";
      break;
    case moe::v1::JOB_STATE_RUNNING:
      becoming = "started";
      break;
    default:
      break;
  }
  return absl::StrCat("job ", id, " ", is, ": it cannot be ", becoming);
}

}  // namespace

std::string OutputDirKey(const moe::v1::JobSpec& spec) {
  return std::filesystem::path(spec.checkpoint().output_dir()).lexically_normal().string();
}

bool IsFinal(JobState state) {
  return state == moe::v1::JOB_STATE_COMPLETED || state == moe::v1::JOB_STATE_FAILED ||
         state == moe::v1::JOB_STATE_CANCELLED;
}

std::string StateName(JobState state) {
  return absl::AsciiStrToLower(absl::StripPrefix(moe::v1::JobState_Name(state), "JOB_STATE_"));
}

bool AllowedTransition(JobState from, JobState to) {
  using moe::v1::JOB_STATE_CANCELLED, moe::v1::JOB_STATE_COMPLETED, moe::v1::JOB_STATE_FAILED,
      moe::v1::JOB_STATE_INTERRUPTED, moe::v1::JOB_STATE_QUEUED, moe::v1::JOB_STATE_RUNNING;
  switch (from) {
    case JOB_STATE_QUEUED:
      return to == JOB_STATE_RUNNING || to == JOB_STATE_CANCELLED || to == JOB_STATE_FAILED;
    case JOB_STATE_RUNNING:
      return to == JOB_STATE_COMPLETED || to == JOB_STATE_FAILED || to == JOB_STATE_CANCELLED ||
             to == JOB_STATE_INTERRUPTED || to == JOB_STATE_QUEUED;
    case JOB_STATE_FAILED:
    case JOB_STATE_CANCELLED:
    case JOB_STATE_INTERRUPTED:
      return to == JOB_STATE_QUEUED || (from == JOB_STATE_INTERRUPTED && to == JOB_STATE_CANCELLED);
    default:
      return false;
  }
}

absl::StatusOr<std::unique_ptr<Catalogue>> Catalogue::Open(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    const absl::Status status = absl::UnavailableError(
        absl::StrCat("catalogue ", path, ": cannot open: ", db ? sqlite3_errmsg(db) : "no memory"));
    sqlite3_close(db);
    return status;
  }
  std::unique_ptr<Catalogue> catalogue(new Catalogue(db));
  absl::MutexLock lock(&catalogue->mu_);
  absl::Status status = Exec(db,
                             "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                             "PRAGMA foreign_keys=ON; PRAGMA busy_timeout=10000;");
  // Structure first (every page of every table and index, quickly): a damaged catalogue is
  // refused before anything reads or writes it.
  if (status.ok()) status = IntegrityProblems(db, "quick_check");
  if (!status.ok()) return Damaged(path, status);
  ASSIGN_OR_RETURN(const int64_t version, UserVersion(db));
  if (path != ":memory:" && version > 0 && version < kSchemaVersion) {
    // An online copy before the schema changes: the way back if the new moed misbehaves.
    const std::string backup = absl::StrCat(path, ".before-v", kSchemaVersion);
    RETURN_IF_ERROR(CopyDatabase(db, backup));
    spdlog::info("catalogue {}: schema {} -> {}; a copy of the old one is {}", path, version,
                 kSchemaVersion, backup);
  }
  const absl::Status migrated = catalogue->Migrate();
  if (!migrated.ok()) {
    return absl::Status(migrated.code(), absl::StrCat(path, ": ", migrated.message()));
  }
  return catalogue;
}

absl::Status Catalogue::Check(const std::string& path) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  absl::Status status =
      rc == SQLITE_OK
          ? absl::OkStatus()
          : absl::NotFoundError(absl::StrCat(
                "catalogue ", path, ": cannot open: ", db ? sqlite3_errmsg(db) : "no memory"));
  if (status.ok()) status = Exec(db, "PRAGMA busy_timeout=10000;");
  if (status.ok()) status = IntegrityProblems(db, "integrity_check");
  if (!status.ok() && !absl::IsNotFound(status)) status = Damaged(path, status);
  sqlite3_close(db);
  return status;
}

absl::Status Catalogue::Backup(const std::string& path, const std::string& destination) {
  std::error_code ec;
  if (std::filesystem::exists(destination, ec)) {
    return absl::AlreadyExistsError(
        absl::StrCat(destination, " exists: a backup goes to a new file"));
  }
  sqlite3* db = nullptr;
  absl::Status status;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    status = absl::NotFoundError(
        absl::StrCat("catalogue ", path, ": cannot open: ", db ? sqlite3_errmsg(db) : "no memory"));
  }
  if (status.ok()) status = Exec(db, "PRAGMA busy_timeout=10000;");
  if (status.ok()) status = CopyDatabase(db, destination);
  sqlite3_close(db);
  return status;
}

Catalogue::~Catalogue() { sqlite3_close(db_); }

absl::Status Catalogue::Migrate() {
  Statement version(db_, "PRAGMA user_version");
  if (!version.Next()) return version.status();
  const int64_t from = version.Int(0);
  if (from > kSchemaVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("catalogue schema version ", from, " is newer than this moed's (",
                     kSchemaVersion, "): run the moed that wrote it, or a newer one"));
  }
  for (int64_t v = from; v < kSchemaVersion; ++v) {
    RETURN_IF_ERROR(Exec(db_, "BEGIN IMMEDIATE"));
    absl::Status status = Exec(db_, CatalogueMigration(v + 1));
    if (status.ok() && v + 1 == 4) status = BackfillOutputDirs(db_);
    if (status.ok()) {
      status = Exec(db_, absl::StrCat("PRAGMA user_version = ", v + 1).c_str());
    }
    if (!status.ok()) {
      (void)Exec(db_, "ROLLBACK");  // the error being returned is the one to tell
      return status;
    }
    RETURN_IF_ERROR(Exec(db_, "COMMIT"));
  }
  return absl::OkStatus();
}

absl::Status Catalogue::Begin() {
  absl::MutexLock lock(&mu_);
  return Exec(db_, "BEGIN IMMEDIATE");
}

absl::Status Catalogue::Commit() {
  absl::MutexLock lock(&mu_);
  const absl::Status committed = Exec(db_, "COMMIT");
  if (!committed.ok()) (void)Exec(db_, "ROLLBACK");  // a COMMIT that failed leaves it open
  return committed;
}

void Catalogue::Rollback() {
  absl::MutexLock lock(&mu_);
  (void)Exec(db_, "ROLLBACK");  // nothing to do when there is no transaction
}

absl::StatusOr<int> Catalogue::SchemaVersion() {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "PRAGMA user_version");
  if (!s.Next()) return s.status();
  return static_cast<int>(s.Int(0));
}

absl::StatusOr<int64_t> Catalogue::CreateJob(const moe::v1::JobSpec& spec,
                                             const std::string& job_dir, double now) {
  return CreateJob(spec, now, [&](int64_t) -> absl::StatusOr<PreparedJob> {
    return PreparedJob{spec, job_dir};
  });
}

absl::StatusOr<int64_t> Catalogue::CreateJob(const moe::v1::JobSpec& spec, double now,
                                             const Prepare& prepare) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(Exec(db_, "BEGIN IMMEDIATE"));
  absl::StatusOr<int64_t> id = InsertJob(spec, now, prepare);
  if (!id.ok()) {
    (void)Exec(db_, "ROLLBACK");  // the error being returned is the one to tell
    return id.status();
  }
  RETURN_IF_ERROR(Exec(db_, "COMMIT"));
  return id;
}

absl::StatusOr<int64_t> Catalogue::InsertJob(const moe::v1::JobSpec& spec, double now,
                                             const Prepare& prepare) {
  Statement insert(db_,
                   "INSERT INTO jobs (name, state, spec_json, job_dir, world_size, max_restarts, "
                   "submitted, updated) VALUES (?, ?, '{}', '', ?, ?, ?, ?)");
  insert.Bind(spec.name())
      .Bind(int64_t{moe::v1::JOB_STATE_QUEUED})
      .Bind(int64_t{spec.resources().world_size()})
      .Bind(int64_t{spec.resources().max_restarts()})
      .Bind(now)
      .Bind(now);
  RETURN_IF_ERROR(insert.Run());
  const int64_t id = sqlite3_last_insert_rowid(db_);
  ASSIGN_OR_RETURN(const PreparedJob prepared, prepare(id));
  ASSIGN_OR_RETURN(const std::string json, SpecJson(prepared.spec));
  Statement update(db_, "UPDATE jobs SET spec_json = ?, job_dir = ?, output_dir = ? WHERE id = ?");
  update.Bind(json).Bind(prepared.job_dir).Bind(OutputDirKey(prepared.spec)).Bind(id);
  RETURN_IF_ERROR(update.Run());
  return id;
}

absl::StatusOr<std::string> Catalogue::CatalogueId() {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "SELECT value FROM meta WHERE key = 'catalogue_id'");
  if (!s.Next()) {
    RETURN_IF_ERROR(s.status());
    return absl::DataLossError("catalogue: no catalogue_id in table meta");
  }
  return s.Text(0);
}

absl::StatusOr<std::vector<std::pair<int64_t, JobState>>> Catalogue::JobsWithOutputDir(
    const std::string& output_dir) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "SELECT id, state FROM jobs WHERE output_dir = ? ORDER BY id");
  s.Bind(output_dir);
  std::vector<std::pair<int64_t, JobState>> jobs;
  while (s.Next()) jobs.emplace_back(s.Int(0), static_cast<JobState>(s.Int(1)));
  RETURN_IF_ERROR(s.status());
  return jobs;
}

absl::StatusOr<moe::v1::Job> Catalogue::GetJob(int64_t id) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, absl::StrCat("SELECT ", kJobColumns, " FROM jobs WHERE id = ?"));
  s.Bind(id);
  if (!s.Next()) {
    RETURN_IF_ERROR(s.status());
    return absl::NotFoundError(absl::StrCat("no job ", id));
  }
  return JobFrom(s);
}

absl::StatusOr<std::vector<moe::v1::Job>> Catalogue::ListJobSummaries(const JobQuery& query) {
  // The spec column is left out ('{}'): specs may be large, and summaries go to listings.
  std::string sql = absl::StrCat(
      "SELECT ", absl::StrReplaceAll(kJobColumns, {{"spec_json", "'{}'"}}), " FROM jobs WHERE 1");
  if (!query.states.empty()) {
    absl::StrAppend(&sql, " AND state IN (");
    for (size_t i = 0; i < query.states.size(); ++i) absl::StrAppend(&sql, i ? ", ?" : "?");
    absl::StrAppend(&sql, ")");
  }
  if (query.after_id > 0) absl::StrAppend(&sql, query.oldest_first ? " AND id > ?" : " AND id < ?");
  absl::StrAppend(&sql, " ORDER BY id ", query.oldest_first ? "ASC" : "DESC", " LIMIT ?");
  absl::MutexLock lock(&mu_);
  Statement s(db_, sql);
  for (JobState state : query.states) s.Bind(int64_t{state});
  if (query.after_id > 0) s.Bind(query.after_id);
  s.Bind(int64_t{query.limit});
  ASSIGN_OR_RETURN(std::vector<moe::v1::Job> jobs, AllJobs(s));
  for (moe::v1::Job& job : jobs) job.clear_spec();
  return jobs;
}

absl::Status Catalogue::DeleteJob(int64_t id) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(Exec(db_, "BEGIN IMMEDIATE"));
  absl::Status status;
  for (const char* table : {"steps", "events", "checkpoints", "attempts"}) {
    Statement s(db_, absl::StrCat("DELETE FROM ", table, " WHERE job_id = ?"));
    s.Bind(id);
    status = s.Run();
    if (!status.ok()) break;
  }
  if (status.ok()) {
    Statement s(db_, "DELETE FROM jobs WHERE id = ?");
    s.Bind(id);
    status = s.Run();
    if (status.ok() && sqlite3_changes(db_) == 0)
      status = absl::NotFoundError(absl::StrCat("no job ", id));
  }
  if (!status.ok()) {
    (void)Exec(db_, "ROLLBACK");  // the error being returned is the one to tell
    return status;
  }
  return Exec(db_, "COMMIT");
}

absl::StatusOr<std::vector<moe::v1::Job>> Catalogue::ListJobs() {
  absl::MutexLock lock(&mu_);
  Statement s(db_, absl::StrCat("SELECT ", kJobColumns, " FROM jobs ORDER BY id"));
  return AllJobs(s);
}

absl::StatusOr<std::map<JobState, int>> Catalogue::CountJobsByState() {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "SELECT state, COUNT(*) FROM jobs GROUP BY state");
  std::map<JobState, int> counts;
  while (s.Next()) counts[static_cast<JobState>(s.Int(0))] = static_cast<int>(s.Int(1));
  RETURN_IF_ERROR(s.status());
  return counts;
}

absl::StatusOr<std::vector<moe::v1::Job>> Catalogue::JobsIn(JobState state) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, absl::StrCat("SELECT ", kJobColumns, " FROM jobs WHERE state = ? ORDER BY id"));
  s.Bind(int64_t{state});
  return AllJobs(s);
}

absl::Status Catalogue::SetState(int64_t id, JobState to, double now, const std::string& failure) {
  absl::MutexLock lock(&mu_);
  Statement current(db_, "SELECT state FROM jobs WHERE id = ?");
  current.Bind(id);
  if (!current.Next()) {
    RETURN_IF_ERROR(current.status());
    return absl::NotFoundError(absl::StrCat("no job ", id));
  }
  const auto from = static_cast<JobState>(current.Int(0));
  if (!AllowedTransition(from, to)) {
    return absl::FailedPreconditionError(TransitionRefused(id, from, to));
  }
  Statement s(db_,
              "UPDATE jobs SET state = ?, updated = ?, failure = ? WHERE id = ? AND state = ?");
  s.Bind(int64_t{to}).Bind(now).Bind(failure).Bind(id).Bind(int64_t{from});
  return s.Run();
}

absl::Status Catalogue::SetJobDir(int64_t id, const std::string& job_dir) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "UPDATE jobs SET job_dir = ? WHERE id = ?");
  s.Bind(job_dir).Bind(id);
  return s.Run();
}

absl::Status Catalogue::SetRestarts(int64_t id, int32_t restarts) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "UPDATE jobs SET restarts = ? WHERE id = ?");
  s.Bind(int64_t{restarts}).Bind(id);
  return s.Run();
}

absl::Status Catalogue::SetWorldSize(int64_t id, int32_t world_size) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "UPDATE jobs SET world_size = ? WHERE id = ?");
  s.Bind(int64_t{world_size}).Bind(id);
  return s.Run();
}

absl::Status Catalogue::SetNextStart(int64_t id, const std::string& resume_from,
                                     double not_before) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "UPDATE jobs SET next_resume_from = ?, next_not_before = ? WHERE id = ?");
  s.Bind(resume_from).Bind(not_before).Bind(id);
  return s.Run();
}

absl::StatusOr<Catalogue::NextStart> Catalogue::GetNextStart(int64_t id) {
  absl::MutexLock lock(&mu_);
  Statement s(db_,
              "SELECT next_resume_from, next_not_before, wait_path, wait_bytes FROM jobs "
              "WHERE id = ?");
  s.Bind(id);
  if (!s.Next()) {
    RETURN_IF_ERROR(s.status());
    return absl::NotFoundError(absl::StrCat("no job ", id));
  }
  return NextStart{s.Text(0), s.Real(1), s.Text(2), static_cast<uint64_t>(s.Int(3))};
}

absl::Status Catalogue::SetDiskWait(int64_t id, const std::string& path, uint64_t bytes,
                                    const std::string& waiting) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "UPDATE jobs SET wait_path = ?, wait_bytes = ?, waiting = ? WHERE id = ?");
  s.Bind(path).Bind(static_cast<int64_t>(bytes)).Bind(waiting).Bind(id);
  return s.Run();
}

absl::StatusOr<int64_t> Catalogue::StartAttempt(int64_t job_id, int32_t world_size,
                                                const std::string& resume_from, double now,
                                                const std::string& worker_secret) {
  absl::MutexLock lock(&mu_);
  Statement s(db_,
              "INSERT INTO attempts (job_id, world_size, resume_from, started, worker_secret) "
              "VALUES (?, ?, ?, ?, ?)");
  s.Bind(job_id).Bind(int64_t{world_size}).Bind(resume_from).Bind(now).Bind(worker_secret);
  RETURN_IF_ERROR(s.Run());
  return sqlite3_last_insert_rowid(db_);
}

absl::StatusOr<std::string> Catalogue::WorkerSecret(int64_t attempt_id) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "SELECT worker_secret FROM attempts WHERE id = ?");
  s.Bind(attempt_id);
  if (!s.Next()) {
    RETURN_IF_ERROR(s.status());
    return absl::NotFoundError(absl::StrCat("no attempt ", attempt_id));
  }
  return s.Text(0);
}

absl::Status Catalogue::SetAttemptHandle(int64_t id, const std::string& handle) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "UPDATE attempts SET launcher_handle = ? WHERE id = ?");
  s.Bind(handle).Bind(id);
  RETURN_IF_ERROR(s.Run());
  if (sqlite3_changes(db_) == 0) {
    return absl::NotFoundError(absl::StrCat("attempt ", id, " is unknown"));
  }
  return absl::OkStatus();
}

absl::Status Catalogue::EndAttempt(int64_t id, int32_t exit_code, int32_t signal,
                                   moe::v1::AttemptCause cause, double now) {
  absl::MutexLock lock(&mu_);
  Statement s(db_,
              "UPDATE attempts SET ended = ?, exit_code = ?, signal = ?, cause = ? "
              "WHERE id = ? AND ended = 0");
  s.Bind(now).Bind(int64_t{exit_code}).Bind(int64_t{signal}).Bind(int64_t{cause}).Bind(id);
  RETURN_IF_ERROR(s.Run());
  if (sqlite3_changes(db_) == 0) {
    return absl::FailedPreconditionError(absl::StrCat("attempt ", id, " is unknown or over"));
  }
  return absl::OkStatus();
}

absl::StatusOr<moe::v1::Attempt> Catalogue::GetAttempt(int64_t id) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, absl::StrCat("SELECT ", kAttemptColumns, " FROM attempts WHERE id = ?"));
  s.Bind(id);
  if (!s.Next()) {
    RETURN_IF_ERROR(s.status());
    return absl::NotFoundError(absl::StrCat("no attempt ", id));
  }
  return AttemptFrom(s);
}

absl::StatusOr<std::vector<moe::v1::Attempt>> Catalogue::ListAttempts(int64_t job_id) {
  absl::MutexLock lock(&mu_);
  Statement s(
      db_, absl::StrCat("SELECT ", kAttemptColumns, " FROM attempts WHERE job_id = ? ORDER BY id"));
  s.Bind(job_id);
  std::vector<moe::v1::Attempt> attempts;
  while (s.Next()) attempts.push_back(AttemptFrom(s));
  RETURN_IF_ERROR(s.status());
  return attempts;
}

absl::Status Catalogue::AddCheckpoint(const moe::v1::Checkpoint& c) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, absl::StrCat("INSERT OR REPLACE INTO checkpoints (", kCheckpointColumns,
                                ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  s.Bind(c.job_id())
      .Bind(c.attempt_id())
      .Bind(c.step())
      .Bind(c.epoch())
      .Bind(static_cast<int64_t>(c.data_position()))
      .Bind(int64_t{c.world_size()})
      .Bind(c.path())
      .Bind(static_cast<int64_t>(c.bytes()))
      .Bind(c.manifest_sha256())
      .Bind(c.committed_unix_s())
      .Bind(c.save_seconds())
      .Bind(c.stall_seconds())
      .Bind(int64_t{c.async() ? 1 : 0})
      .Bind(c.interval_steps())
      .Bind(c.interval_why());
  return s.Run();
}

absl::StatusOr<std::vector<moe::v1::Checkpoint>> Catalogue::ListCheckpoints(int64_t job_id) {
  absl::MutexLock lock(&mu_);
  Statement s(db_,
              absl::StrCat("SELECT ", kCheckpointColumns,
                           " FROM checkpoints WHERE job_id = ? AND deleted = 0 AND damaged = '' "
                           "ORDER BY step DESC"));
  s.Bind(job_id);
  std::vector<moe::v1::Checkpoint> checkpoints;
  while (s.Next()) checkpoints.push_back(CheckpointFrom(s));
  RETURN_IF_ERROR(s.status());
  return checkpoints;
}

absl::Status Catalogue::MarkCheckpointDeleted(int64_t job_id, int64_t step) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "UPDATE checkpoints SET deleted = 1 WHERE job_id = ? AND step = ?");
  s.Bind(job_id).Bind(step);
  return s.Run();
}

absl::Status Catalogue::MarkCheckpointDamaged(int64_t job_id, int64_t step,
                                              const std::string& why) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "UPDATE checkpoints SET damaged = ? WHERE job_id = ? AND step = ?");
  s.Bind(why.empty() ? std::string("damaged") : why).Bind(job_id).Bind(step);
  return s.Run();
}

absl::Status Catalogue::AddSteps(int64_t job_id, int64_t attempt_id,
                                 const std::vector<moe::v1::StepMetrics>& steps) {
  if (steps.empty()) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(Exec(db_, "BEGIN IMMEDIATE"));
  absl::Status status;
  {
    Statement s(db_,
                "INSERT INTO steps (job_id, attempt_id, step, total_steps, epoch, metrics, "
                "expert_share, time) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    for (const moe::v1::StepMetrics& m : steps) {
      if (!status.ok()) break;
      s.Reset();
      s.Bind(job_id)
          .Bind(attempt_id)
          .Bind(m.step())
          .Bind(m.total_steps())
          .Bind(m.epoch())
          .Bind(nlohmann::json(std::map<std::string, double>(m.values().begin(), m.values().end()))
                    .dump())
          .Bind(
              nlohmann::json(std::vector<double>(m.expert_share().begin(), m.expert_share().end()))
                  .dump())
          .Bind(m.unix_s());
      status = s.Run();
    }
    if (status.ok()) {
      Statement progress(db_, "UPDATE jobs SET step = ?, total_steps = ? WHERE id = ?");
      progress.Bind(steps.back().step()).Bind(steps.back().total_steps()).Bind(job_id);
      status = progress.Run();
    }
  }
  if (!status.ok()) {
    (void)Exec(db_, "ROLLBACK");  // the error being returned is the one to tell
    return status;
  }
  return Exec(db_, "COMMIT");
}

absl::StatusOr<std::vector<moe::v1::StepMetrics>> Catalogue::StepsAfter(int64_t job_id,
                                                                        int64_t after_step) {
  absl::MutexLock lock(&mu_);
  // For a step reported by several attempts (a restart repeats steps), the newest attempt's.
  Statement s(db_,
              "SELECT step, total_steps, epoch, metrics, expert_share, time FROM steps AS a "
              "WHERE job_id = ? AND step > ? "
              "AND attempt_id = (SELECT MAX(attempt_id) FROM steps AS b "
              "WHERE b.job_id = a.job_id AND b.step = a.step) ORDER BY step");
  s.Bind(job_id).Bind(after_step);
  std::vector<moe::v1::StepMetrics> steps;
  while (s.Next()) {
    moe::v1::StepMetrics m;
    m.set_step(s.Int(0));
    m.set_total_steps(s.Int(1));
    m.set_epoch(s.Int(2));
    const auto metrics = nlohmann::json::parse(s.Text(3), nullptr, false);
    if (metrics.is_object()) {
      for (const auto& [key, value] : metrics.items()) {
        if (value.is_number()) (*m.mutable_values())[key] = value.get<double>();
      }
    }
    const auto shares = nlohmann::json::parse(s.Text(4), nullptr, false);
    if (shares.is_array()) {
      for (const auto& v : shares) m.add_expert_share(v.get<double>());
    }
    m.set_unix_s(s.Real(5));
    steps.push_back(std::move(m));
  }
  RETURN_IF_ERROR(s.status());
  return steps;
}

absl::Status Catalogue::AddEvent(int64_t job_id, const std::string& text, double now) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "INSERT INTO events (job_id, time, text) VALUES (?, ?, ?)");
  s.Bind(job_id).Bind(now).Bind(text);
  return s.Run();
}

absl::StatusOr<std::vector<std::string>> Catalogue::Events(int64_t job_id) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "SELECT text FROM events WHERE job_id = ? ORDER BY id");
  s.Bind(job_id);
  std::vector<std::string> events;
  while (s.Next()) events.push_back(s.Text(0));
  RETURN_IF_ERROR(s.status());
  return events;
}

}  // namespace moe::server
