// The Slurm launcher: each attempt is one Slurm batch job whose tasks are the ranks (`srun`,
// one task per GPU, or world_size / nodes CPU tasks per node). The batch script (written to the
// attempt's log directory as slurm-batch.sh) takes MASTER_ADDR from the first node of the
// allocation and MASTER_PORT from the Slurm job id; each task takes RANK, LOCAL_RANK and
// WORLD_SIZE from SLURM_PROCID, SLURM_LOCALID and SLURM_NTASKS, appends its output to
// rank-R.log and, when its worker exits, writes the exit status (or 128 + signal) to
// rank-R.exit. The log directory must be on a file system the nodes share (as the job's output
// directory must be, for its checkpoints).
//
// The job is followed through `squeue` (then `sacct`, once squeue has forgotten it), asked by a
// thread of its own every poll interval so that a slow slurmctld never holds up moed, and the
// ranks' exit files. (sbatch and scancel run in the caller: once per attempt or stop.) An attempt
// ends when the Slurm job has; a rank that left no exit file counts as killed by SIGKILL. The Slurm
// job outlives moed: its handle
// ("slurm:<job id>") finds it again.
//
// Slurm's own stops reach the workers as SIGTERM (scancel, preemption, the time limit), and
// they stop at a step with a checkpoint within the partition's GraceTime (or KillWait).
#ifndef MOE_SERVER_SLURM_LAUNCHER_H_
#define MOE_SERVER_SLURM_LAUNCHER_H_

#include <string>
#include <vector>

#include "server/launcher.h"

namespace moe::server {

struct SlurmOptions {
  moe::v1::SlurmSpec defaults;    // moed's --slurm-*: for what a job's spec leaves empty
  double poll_s = 1;              // squeue at most this often per job
  double command_timeout_s = 30;  // sbatch, squeue, sacct, scancel
};

class SlurmLauncher : public Launcher {
 public:
  explicit SlurmLauncher(SlurmOptions options) : options_(std::move(options)) {}

  absl::Status Admit(const moe::v1::JobSpec& spec, int slots) const override;
  bool OwnsHandle(const std::string& handle) const override;
  bool UsesSlots() const override { return false; }
  absl::StatusOr<std::unique_ptr<WorkerGroup>> Launch(const LaunchRequest& request) override;
  absl::StatusOr<std::unique_ptr<WorkerGroup>> Reattach(
      const std::string& handle, int world_size, const std::filesystem::path& log_dir) override;

  // The batch job's shape: the spec's fields over moed's defaults, nodes 1 when neither says.
  moe::v1::SlurmSpec Resolve(const moe::v1::SlurmSpec& spec) const;
  // Whether world_size fits the shape (one rank per GPU, or the same number of CPU tasks on
  // each node). Admit checks this, then asks Slurm (sbatch --test-only) whether it would take
  // the job: InvalidArgument with Slurm's reason if not, FailedPrecondition without sbatch.
  absl::Status CheckLayout(const moe::v1::JobSpec& spec) const;

 private:
  // sbatch and the options that shape the job.
  std::vector<std::string> SbatchArguments(const moe::v1::SlurmSpec& slurm,
                                           uint32_t world_size) const;

  const SlurmOptions options_;
};

// What a Slurm job state (squeue %T, or sacct's State such as "CANCELLED by 0") means to moed.
struct SlurmState {
  bool ended = false;      // terminal: no task runs any more
  bool pending = false;    // waiting for nodes
  bool suspended = false;  // its processes are stopped (suspend-mode preemption)
  // Why Slurm ended it, when Slurm did (UNSPECIFIED otherwise). `by_moed`: moed cancelled it.
  moe::v1::AttemptCause cause = moe::v1::ATTEMPT_CAUSE_UNSPECIFIED;
};
SlurmState InterpretSlurmState(const std::string& state, bool by_moed);

// `text` in single quotes for bash.
std::string ShellQuote(const std::string& text);

}  // namespace moe::server

#endif  // MOE_SERVER_SLURM_LAUNCHER_H_
