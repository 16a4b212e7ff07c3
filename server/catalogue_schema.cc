#include "server/catalogue_schema.h"

#include <iterator>

#include "server/catalogue.h"

namespace moe::server {
namespace {

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
    // 4: each attempt's worker secret (common/worker_token.h), so that ranks which outlive moed
    // are still recognised after it restarts; each job's checkpoint directory (filled in from
    // the specs by BackfillOutputDirs), so that no two jobs share one; listing by state; a
    // queued job's wait for disk space; the catalogue's identity.
    R"sql(
ALTER TABLE attempts ADD COLUMN worker_secret TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN output_dir TEXT NOT NULL DEFAULT '';
CREATE INDEX jobs_by_output_dir ON jobs(output_dir);
CREATE INDEX jobs_by_state ON jobs(state, id);
CREATE INDEX events_by_job ON events(job_id, id);
ALTER TABLE jobs ADD COLUMN waiting TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN wait_path TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN wait_bytes INTEGER NOT NULL DEFAULT 0;
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta (key, value) VALUES ('catalogue_id', lower(hex(randomblob(8))));
)sql",
    // 5: a step's training metrics as one JSON object by key (common/step_metrics.h), so that
    // a new metric needs no new column.
    R"sql(
ALTER TABLE steps ADD COLUMN metrics TEXT NOT NULL DEFAULT '{}';
UPDATE steps SET metrics = json_object('loss', loss, 'aux_loss', aux_loss, 'learning_rate',
    learning_rate, 'grad_norm', grad_norm, 'tokens_per_second', tokens_per_second);
ALTER TABLE steps DROP COLUMN loss;
ALTER TABLE steps DROP COLUMN aux_loss;
ALTER TABLE steps DROP COLUMN learning_rate;
ALTER TABLE steps DROP COLUMN grad_norm;
ALTER TABLE steps DROP COLUMN tokens_per_second;
)sql",
    // 6: how each checkpoint was saved: its time, training's stall, in the background or not,
    // and the save interval in use after it, with the reason (moectl status shows them).
    R"sql(
ALTER TABLE checkpoints ADD COLUMN save_seconds REAL NOT NULL DEFAULT 0;
ALTER TABLE checkpoints ADD COLUMN stall_seconds REAL NOT NULL DEFAULT 0;
ALTER TABLE checkpoints ADD COLUMN async INTEGER NOT NULL DEFAULT 0;
ALTER TABLE checkpoints ADD COLUMN interval_steps INTEGER NOT NULL DEFAULT 0;
ALTER TABLE checkpoints ADD COLUMN interval_why TEXT NOT NULL DEFAULT '';
)sql",
};
static_assert(std::size(kMigrations) == Catalogue::kSchemaVersion,
              "a new migration raises Catalogue::kSchemaVersion");

}  // namespace

const char* CatalogueMigration(int version) { return kMigrations[version - 1]; }

}  // namespace moe::server
