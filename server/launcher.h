// Starts an attempt's workers: one `moe-worker train` process per device, with torchrun's
// environment (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT) and moed's
// (MOE_COORDINATOR, MOE_JOB_ID, MOE_ATTEMPT_ID), each rank's stdout and stderr appended to
// `log_dir`/rank-R.log. All ranks of an attempt share one process group (led by rank 0), so one
// signal reaches them all.
#ifndef MOE_SERVER_LAUNCHER_H_
#define MOE_SERVER_LAUNCHER_H_

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace moe::server {

struct LaunchRequest {
  int64_t job_id = 0, attempt_id = 0;
  std::string worker_binary;      // moe-worker
  std::filesystem::path spec;     // the job spec the workers train
  std::filesystem::path log_dir;  // created if missing
  int world_size = 1;
  std::string resume_from;             // checkpoint directory, "" for a fresh start
  std::string coordinator;             // host:port of moed's WorkerService
  std::vector<std::string> extra_env;  // NAME=VALUE, e.g. MOE_DIST_TIMEOUT_S
};

struct LaunchedAttempt {
  std::vector<pid_t> pids;  // by rank
  pid_t process_group = 0;
  std::vector<std::filesystem::path> logs;  // by rank
};

// Spawns every rank; on failure kills those already started. Internal naming the binary and
// the reason when a process cannot be spawned.
absl::StatusOr<LaunchedAttempt> LaunchWorkers(const LaunchRequest& request);

// A TCP port on 127.0.0.1 that was free a moment ago (rank 0's rendezvous store).
int FreeLoopbackPort();

}  // namespace moe::server

#endif  // MOE_SERVER_LAUNCHER_H_
