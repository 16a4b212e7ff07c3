// How moed starts an attempt's workers, and follows them until they end. Two launchers:
// LocalLauncher (child processes of moed, server/local_launcher.h) and SlurmLauncher (one
// Slurm batch job whose tasks are the ranks, server/slurm_launcher.h). Either way each rank is
// one `moe-worker train` with torchrun's environment (RANK, LOCAL_RANK, WORLD_SIZE,
// MASTER_ADDR, MASTER_PORT) and moed's (MOE_COORDINATOR, MOE_JOB_ID, MOE_ATTEMPT_ID, the
// request's extra variables), its stdout and stderr appended to `log_dir`/rank-R.log.
#ifndef MOE_SERVER_LAUNCHER_H_
#define MOE_SERVER_LAUNCHER_H_

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "moe/v1/job.pb.h"
#include "moe/v1/service.pb.h"

namespace moe::server {

struct LaunchRequest {
  int64_t job_id = 0, attempt_id = 0;
  std::string worker_binary;      // moe-worker
  std::filesystem::path spec;     // the job spec the workers train
  std::filesystem::path log_dir;  // created if missing
  int world_size = 1;
  std::string resume_from;             // checkpoint directory, "" for a fresh start
  std::string coordinator;             // host:port of moed's WorkerService, as the workers see it
  std::vector<std::string> extra_env;  // NAME=VALUE, e.g. MOE_DIST_TIMEOUT_S
  // The local device slots the job's ranks own, rank r on devices[r] (launchers whose ranks
  // take moed's slots); no other running job holds them. Empty: the launcher places ranks.
  std::vector<int> devices;
  moe::v1::SlurmSpec slurm;  // the batch job's shape (Slurm launcher only)
  // The attempt's secret (common/worker_token.h): each rank gets its own token from it; the
  // secret itself reaches a rank only through a launcher's wrapper that derives the token.
  std::string worker_secret;
};

// One attempt's ranks, however they were started. Used under the coordinator's lock.
class WorkerGroup {
 public:
  virtual ~WorkerGroup() = default;
  // Names the ranks to find them again after moed restarts (Launcher::Reattach); "" for ranks
  // that do not outlive moed.
  virtual std::string handle() const = 0;
  // Ranks that ended since the last call, each with a wait(2)-style status (an exit code or a
  // signal). Every rank is reported once.
  virtual std::vector<std::pair<int, int>> Reap() = 0;
  // Sends `signal` to every rank: SIGTERM asks them to stop at a step with a checkpoint,
  // SIGKILL ends them.
  virtual void Signal(int signal) = 0;
  // False while no rank can heartbeat: waiting for a scheduler to give them machines,
  // suspended by it, or exited while the scheduler ends the job.
  virtual bool HeartbeatsDue() { return true; }
  // Why the scheduler, rather than a rank, ended the attempt (UNSPECIFIED: the ranks' exit
  // statuses tell). Meaningful once every rank has been reaped.
  virtual moe::v1::AttemptCause SchedulerCause() const {
    return moe::v1::ATTEMPT_CAUSE_UNSPECIFIED;
  }
};

class Launcher {
 public:
  virtual ~Launcher() = default;
  // Whether a job of `spec` can ever run here; InvalidArgument naming the field otherwise.
  // `slots`: moed's local device slots.
  virtual absl::Status Admit(const moe::v1::JobSpec& spec, int slots) const = 0;
  // Whether the job's ranks take moed's local device slots.
  virtual bool UsesSlots() const = 0;
  // Whether `handle` (WorkerGroup::handle, kept in the catalogue) is one this launcher made.
  // Launchers whose workers die with moed make none.
  virtual bool OwnsHandle(const std::string& handle) const { return false; }
  // Starts every rank; on failure ends those already started. Internal naming the reason;
  // Unavailable or DeadlineExceeded when a scheduler cannot be reached now (moed tries again
  // later), FailedPrecondition when it refuses the job.
  virtual absl::StatusOr<std::unique_ptr<WorkerGroup>> Launch(const LaunchRequest& request) = 0;
  // The ranks of an attempt a previous moed started, by their handle: still running, or ended
  // with statuses to reap. NotFound when nothing is known of them any more.
  virtual absl::StatusOr<std::unique_ptr<WorkerGroup>> Reattach(
      const std::string& handle, int world_size, const std::filesystem::path& log_dir) = 0;
};

// The variables every rank gets from moed, without the per-rank ones: MOE_COORDINATOR,
// MOE_JOB_ID, MOE_ATTEMPT_ID, the request's extra ones, then moed's own environment less any
// variable already set here and less inherited MOE_TOKEN, MOE_TLS_* or MOE_WORKER_* (only moed's
// own security reaches the workers). `set`: NAME=VALUE the launcher sets itself (they come first).
std::vector<std::string> WorkerEnvironment(const LaunchRequest& request,
                                           std::vector<std::string> set);

// A TCP port on 127.0.0.1 that was free a moment ago (rank 0's rendezvous store).
int FreeLoopbackPort();

}  // namespace moe::server

#endif  // MOE_SERVER_LAUNCHER_H_
