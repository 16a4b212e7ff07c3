#include "server/store.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"

namespace moe::server {
namespace {

using moe::v1::JobState;

// Schema version N is reached by running kMigrations[N - 1] on version N - 1.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  state INTEGER NOT NULL,
  spec_json TEXT NOT NULL,
  job_dir TEXT NOT NULL,
  world_size INTEGER NOT NULL,
  restarts INTEGER NOT NULL DEFAULT 0,
  max_restarts INTEGER NOT NULL,
  failure TEXT NOT NULL DEFAULT '',
  submitted REAL NOT NULL,
  updated REAL NOT NULL,
  step INTEGER NOT NULL DEFAULT 0,
  total_steps INTEGER NOT NULL DEFAULT 0,
  next_resume_from TEXT NOT NULL DEFAULT '',
  next_not_before REAL NOT NULL DEFAULT 0);
CREATE TABLE attempts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id INTEGER NOT NULL REFERENCES jobs(id),
  world_size INTEGER NOT NULL,
  resume_from TEXT NOT NULL,
  started REAL NOT NULL,
  ended REAL NOT NULL DEFAULT 0,
  exit_code INTEGER NOT NULL DEFAULT 0,
  signal INTEGER NOT NULL DEFAULT 0,
  cause INTEGER NOT NULL DEFAULT 0);
CREATE INDEX attempts_by_job ON attempts(job_id);
CREATE TABLE checkpoints (
  job_id INTEGER NOT NULL REFERENCES jobs(id),
  step INTEGER NOT NULL,
  attempt_id INTEGER NOT NULL,
  epoch INTEGER NOT NULL,
  data_position INTEGER NOT NULL,
  world_size INTEGER NOT NULL,
  path TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  manifest_sha256 TEXT NOT NULL,
  committed REAL NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (job_id, step));
CREATE TABLE steps (
  job_id INTEGER NOT NULL,
  attempt_id INTEGER NOT NULL,
  step INTEGER NOT NULL,
  total_steps INTEGER NOT NULL,
  epoch INTEGER NOT NULL,
  loss REAL NOT NULL,
  aux_loss REAL NOT NULL,
  learning_rate REAL NOT NULL,
  grad_norm REAL NOT NULL,
  tokens_per_second REAL NOT NULL,
  expert_share TEXT NOT NULL,
  time REAL NOT NULL);
CREATE INDEX steps_by_job ON steps(job_id, step);
CREATE TABLE events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id INTEGER NOT NULL,
  time REAL NOT NULL,
  text TEXT NOT NULL);
)sql",
    // 2: checkpoints that failed verification when a resume tried them, and why.
    R"sql(
ALTER TABLE checkpoints ADD COLUMN damaged TEXT NOT NULL DEFAULT '';
)sql",
    // 3: where an attempt's workers run outside moed (a Slurm job), to find them again.
    R"sql(
ALTER TABLE attempts ADD COLUMN launcher_handle TEXT NOT NULL DEFAULT '';
)sql",
};
static_assert(std::size(kMigrations) == Store::kSchemaVersion);

constexpr char kJobColumns[] =
    "id, name, state, spec_json, job_dir, world_size, restarts, max_restarts, failure, "
    "submitted, updated, step, total_steps";
constexpr char kAttemptColumns[] =
    "id, job_id, world_size, resume_from, started, ended, exit_code, signal, cause, "
    "launcher_handle";
constexpr char kCheckpointColumns[] =
    "job_id, attempt_id, step, epoch, data_position, world_size, path, bytes, manifest_sha256, "
    "committed";

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
  return c;
}

}  // namespace

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

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    const absl::Status status = absl::UnavailableError(
        absl::StrCat("catalogue ", path, ": cannot open: ", db ? sqlite3_errmsg(db) : "no memory"));
    sqlite3_close(db);
    return status;
  }
  std::unique_ptr<Store> store(new Store(db));
  absl::MutexLock lock(&store->mu_);
  RETURN_IF_ERROR(Exec(db,
                       "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                       "PRAGMA foreign_keys=ON; PRAGMA busy_timeout=10000;"));
  const absl::Status migrated = store->Migrate();
  if (!migrated.ok()) {
    return absl::Status(migrated.code(), absl::StrCat(path, ": ", migrated.message()));
  }
  return store;
}

Store::~Store() { sqlite3_close(db_); }

absl::Status Store::Migrate() {
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
    absl::Status status = Exec(db_, kMigrations[v]);
    if (status.ok()) {
      status = Exec(db_, absl::StrCat("PRAGMA user_version = ", v + 1).c_str());
    }
    if (!status.ok()) {
      (void)Exec(db_, "ROLLBACK");
      return status;
    }
    RETURN_IF_ERROR(Exec(db_, "COMMIT"));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> Store::SchemaVersion() {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "PRAGMA user_version");
  if (!s.Next()) return s.status();
  return static_cast<int>(s.Int(0));
}

absl::StatusOr<int64_t> Store::CreateJob(const moe::v1::JobSpec& spec, const std::string& job_dir,
                                         double now) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(spec, &json, options).ok()) {
    return absl::InternalError("catalogue: cannot encode the spec");
  }
  absl::MutexLock lock(&mu_);
  Statement s(db_,
              "INSERT INTO jobs (name, state, spec_json, job_dir, world_size, max_restarts, "
              "submitted, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  s.Bind(spec.name())
      .Bind(int64_t{moe::v1::JOB_STATE_QUEUED})
      .Bind(json)
      .Bind(job_dir)
      .Bind(int64_t{spec.resources().world_size()})
      .Bind(int64_t{spec.resources().max_restarts()})
      .Bind(now)
      .Bind(now);
  RETURN_IF_ERROR(s.Run());
  return sqlite3_last_insert_rowid(db_);
}

absl::StatusOr<moe::v1::Job> Store::GetJob(int64_t id) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, absl::StrCat("SELECT ", kJobColumns, " FROM jobs WHERE id = ?"));
  s.Bind(id);
  if (!s.Next()) {
    RETURN_IF_ERROR(s.status());
    return absl::NotFoundError(absl::StrCat("no job ", id));
  }
  return JobFrom(s);
}

absl::StatusOr<std::vector<moe::v1::Job>> Store::ListJobs() {
  absl::MutexLock lock(&mu_);
  Statement s(db_, absl::StrCat("SELECT ", kJobColumns, " FROM jobs ORDER BY id"));
  return AllJobs(s);
}

absl::StatusOr<std::map<JobState, int>> Store::CountJobsByState() {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "SELECT state, COUNT(*) FROM jobs GROUP BY state");
  std::map<JobState, int> counts;
  while (s.Next()) counts[static_cast<JobState>(s.Int(0))] = static_cast<int>(s.Int(1));
  RETURN_IF_ERROR(s.status());
  return counts;
}

absl::StatusOr<std::vector<moe::v1::Job>> Store::JobsIn(JobState state) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, absl::StrCat("SELECT ", kJobColumns, " FROM jobs WHERE state = ? ORDER BY id"));
  s.Bind(int64_t{state});
  return AllJobs(s);
}

absl::Status Store::SetState(int64_t id, JobState to, double now, const std::string& failure) {
  absl::MutexLock lock(&mu_);
  Statement current(db_, "SELECT state FROM jobs WHERE id = ?");
  current.Bind(id);
  if (!current.Next()) {
    RETURN_IF_ERROR(current.status());
    return absl::NotFoundError(absl::StrCat("no job ", id));
  }
  const auto from = static_cast<JobState>(current.Int(0));
  if (!AllowedTransition(from, to)) {
    return absl::FailedPreconditionError(absl::StrCat("job ", id, " is ",
                                                      moe::v1::JobState_Name(from), ", not ",
                                                      moe::v1::JobState_Name(to), "-able"));
  }
  Statement s(db_,
              "UPDATE jobs SET state = ?, updated = ?, failure = ? WHERE id = ? AND state = ?");
  s.Bind(int64_t{to}).Bind(now).Bind(failure).Bind(id).Bind(int64_t{from});
  return s.Run();
}

absl::Status Store::SetJobDir(int64_t id, const std::string& job_dir) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "UPDATE jobs SET job_dir = ? WHERE id = ?");
  s.Bind(job_dir).Bind(id);
  return s.Run();
}

absl::Status Store::SetRestarts(int64_t id, int32_t restarts) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "UPDATE jobs SET restarts = ? WHERE id = ?");
  s.Bind(int64_t{restarts}).Bind(id);
  return s.Run();
}

absl::Status Store::SetWorldSize(int64_t id, int32_t world_size) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "UPDATE jobs SET world_size = ? WHERE id = ?");
  s.Bind(int64_t{world_size}).Bind(id);
  return s.Run();
}

absl::Status Store::SetNextStart(int64_t id, const std::string& resume_from, double not_before) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "UPDATE jobs SET next_resume_from = ?, next_not_before = ? WHERE id = ?");
  s.Bind(resume_from).Bind(not_before).Bind(id);
  return s.Run();
}

absl::StatusOr<Store::NextStart> Store::GetNextStart(int64_t id) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "SELECT next_resume_from, next_not_before FROM jobs WHERE id = ?");
  s.Bind(id);
  if (!s.Next()) {
    RETURN_IF_ERROR(s.status());
    return absl::NotFoundError(absl::StrCat("no job ", id));
  }
  return NextStart{s.Text(0), s.Real(1)};
}

absl::StatusOr<int64_t> Store::StartAttempt(int64_t job_id, int32_t world_size,
                                            const std::string& resume_from, double now) {
  absl::MutexLock lock(&mu_);
  Statement s(
      db_, "INSERT INTO attempts (job_id, world_size, resume_from, started) VALUES (?, ?, ?, ?)");
  s.Bind(job_id).Bind(int64_t{world_size}).Bind(resume_from).Bind(now);
  RETURN_IF_ERROR(s.Run());
  return sqlite3_last_insert_rowid(db_);
}

absl::Status Store::SetAttemptHandle(int64_t id, const std::string& handle) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "UPDATE attempts SET launcher_handle = ? WHERE id = ?");
  s.Bind(handle).Bind(id);
  RETURN_IF_ERROR(s.Run());
  if (sqlite3_changes(db_) == 0) {
    return absl::NotFoundError(absl::StrCat("attempt ", id, " is unknown"));
  }
  return absl::OkStatus();
}

absl::Status Store::EndAttempt(int64_t id, int32_t exit_code, int32_t signal,
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

absl::StatusOr<moe::v1::Attempt> Store::GetAttempt(int64_t id) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, absl::StrCat("SELECT ", kAttemptColumns, " FROM attempts WHERE id = ?"));
  s.Bind(id);
  if (!s.Next()) {
    RETURN_IF_ERROR(s.status());
    return absl::NotFoundError(absl::StrCat("no attempt ", id));
  }
  return AttemptFrom(s);
}

absl::StatusOr<std::vector<moe::v1::Attempt>> Store::ListAttempts(int64_t job_id) {
  absl::MutexLock lock(&mu_);
  Statement s(
      db_, absl::StrCat("SELECT ", kAttemptColumns, " FROM attempts WHERE job_id = ? ORDER BY id"));
  s.Bind(job_id);
  std::vector<moe::v1::Attempt> attempts;
  while (s.Next()) attempts.push_back(AttemptFrom(s));
  RETURN_IF_ERROR(s.status());
  return attempts;
}

absl::Status Store::AddCheckpoint(const moe::v1::Checkpoint& c) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, absl::StrCat("INSERT OR REPLACE INTO checkpoints (", kCheckpointColumns,
                                ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  s.Bind(c.job_id())
      .Bind(c.attempt_id())
      .Bind(c.step())
      .Bind(c.epoch())
      .Bind(static_cast<int64_t>(c.data_position()))
      .Bind(int64_t{c.world_size()})
      .Bind(c.path())
      .Bind(static_cast<int64_t>(c.bytes()))
      .Bind(c.manifest_sha256())
      .Bind(c.committed_unix_s());
  return s.Run();
}

absl::StatusOr<std::vector<moe::v1::Checkpoint>> Store::ListCheckpoints(int64_t job_id) {
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

absl::Status Store::MarkCheckpointDeleted(int64_t job_id, int64_t step) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "UPDATE checkpoints SET deleted = 1 WHERE job_id = ? AND step = ?");
  s.Bind(job_id).Bind(step);
  return s.Run();
}

absl::Status Store::MarkCheckpointDamaged(int64_t job_id, int64_t step, const std::string& why) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "UPDATE checkpoints SET damaged = ? WHERE job_id = ? AND step = ?");
  s.Bind(why.empty() ? std::string("damaged") : why).Bind(job_id).Bind(step);
  return s.Run();
}

absl::Status Store::AddSteps(int64_t job_id, int64_t attempt_id,
                             const std::vector<moe::v1::StepMetrics>& steps) {
  if (steps.empty()) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(Exec(db_, "BEGIN IMMEDIATE"));
  absl::Status status;
  {
    Statement s(db_,
                "INSERT INTO steps (job_id, attempt_id, step, total_steps, epoch, loss, aux_loss, "
                "learning_rate, grad_norm, tokens_per_second, expert_share, time) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    for (const moe::v1::StepMetrics& m : steps) {
      if (!status.ok()) break;
      s.Reset();
      s.Bind(job_id)
          .Bind(attempt_id)
          .Bind(m.step())
          .Bind(m.total_steps())
          .Bind(m.epoch())
          .Bind(m.loss())
          .Bind(m.aux_loss())
          .Bind(m.learning_rate())
          .Bind(m.grad_norm())
          .Bind(m.tokens_per_second())
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
    (void)Exec(db_, "ROLLBACK");
    return status;
  }
  return Exec(db_, "COMMIT");
}

absl::StatusOr<std::vector<moe::v1::StepMetrics>> Store::StepsAfter(int64_t job_id,
                                                                    int64_t after_step) {
  absl::MutexLock lock(&mu_);
  // For a step reported by several attempts (a restart repeats steps), the newest attempt's.
  Statement s(db_,
              "SELECT step, total_steps, epoch, loss, aux_loss, learning_rate, grad_norm, "
              "tokens_per_second, expert_share, time FROM steps AS a WHERE job_id = ? AND step > ? "
              "AND attempt_id = (SELECT MAX(attempt_id) FROM steps AS b "
              "WHERE b.job_id = a.job_id AND b.step = a.step) ORDER BY step");
  s.Bind(job_id).Bind(after_step);
  std::vector<moe::v1::StepMetrics> steps;
  while (s.Next()) {
    moe::v1::StepMetrics m;
    m.set_step(s.Int(0));
    m.set_total_steps(s.Int(1));
    m.set_epoch(s.Int(2));
    m.set_loss(s.Real(3));
    m.set_aux_loss(s.Real(4));
    m.set_learning_rate(s.Real(5));
    m.set_grad_norm(s.Real(6));
    m.set_tokens_per_second(s.Real(7));
    const auto shares = nlohmann::json::parse(s.Text(8), nullptr, false);
    if (shares.is_array()) {
      for (const auto& v : shares) m.add_expert_share(v.get<double>());
    }
    m.set_unix_s(s.Real(9));
    steps.push_back(std::move(m));
  }
  RETURN_IF_ERROR(s.status());
  return steps;
}

absl::Status Store::AddEvent(int64_t job_id, const std::string& text, double now) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "INSERT INTO events (job_id, time, text) VALUES (?, ?, ?)");
  s.Bind(job_id).Bind(now).Bind(text);
  return s.Run();
}

absl::StatusOr<std::vector<std::string>> Store::Events(int64_t job_id) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "SELECT text FROM events WHERE job_id = ? ORDER BY id");
  s.Bind(job_id);
  std::vector<std::string> events;
  while (s.Next()) events.push_back(s.Text(0));
  RETURN_IF_ERROR(s.status());
  return events;
}

}  // namespace moe::server
