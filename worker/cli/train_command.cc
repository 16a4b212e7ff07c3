// moe-worker train: runs a job's training loop in this process (standalone, for debugging
// and benchmarks; moed runs the same code path).
#include <signal.h>
#include <sys/prctl.h>
#include <torch/torch.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <memory>
#include <string>

#include "common/logging.h"
#include "common/output_owner.h"
#include "common/status_macros.h"
#include "worker/cli/cli_util.h"
#include "worker/cli/commands.h"
#include "worker/parallel/c10d_communicator.h"
#include "worker/parallel/communicator.h"
#include "worker/parallel/device.h"
#include "worker/parallel/launch_env.h"
#include "worker/report/coordinator_reporter.h"
#include "worker/report/json_lines_progress.h"
#include "worker/report/progress.h"
#include "worker/report/tensorboard_progress.h"
#include "worker/report/terminal_progress.h"
#include "worker/train/stop_deadline.h"
#include "worker/train/trainer.h"

namespace moe::worker {
namespace {

// Set by SIGTERM / SIGINT (and by moed's stop request): training stops at the next step all
// ranks agree on, with a checkpoint, and the process exits with kExitStopped.
std::atomic<bool> stop_requested{false};

void RequestStop(int signal) {
  stop_requested = true;
  std::signal(signal, SIG_DFL);  // a second one stops at once
}

struct TrainFlags {
  std::string spec;
  std::string metrics_file;
  double stop_grace_s = -1;  // < 0: MOE_STOP_GRACE_S, else none
  TrainOptions options;
};

absl::Status RunTrain(const TrainFlags& flags) {
  ASSIGN_OR_RETURN(const JobFiles job, LoadJobFiles(flags.spec));
  // Nothing is written into another job's checkpoint directory (common/output_owner.h).
  const char* owner = std::getenv(common::kOwnerVariable);
  RETURN_IF_ERROR(
      common::CheckOutputDir(job.spec.checkpoint().output_dir(), owner != nullptr ? owner : ""));
  // One process per device, launched as torchrun launches (RANK, WORLD_SIZE, LOCAL_RANK, ...);
  // the device is settled before any work (a missing GPU is the user's error, exit code 2).
  ASSIGN_OR_RETURN(const LaunchEnv env, LaunchEnvFromEnvironment());
  ASSIGN_OR_RETURN(const torch::Device device,
                   ResolveDevice(job.spec.resources().device(), env.local_rank));
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
  spdlog::info("rank {} of {}: device {} (LOCAL_RANK {}, CUDA_VISIBLE_DEVICES {})", env.rank,
               env.world_size, device.str(), env.local_rank,
               visible == nullptr ? "unset" : visible);
  if (const uint32_t threads = job.spec.resources().threads_per_worker(); threads > 0) {
    torch::set_num_threads(static_cast<int>(threads));
  }
  TrainOptions options = flags.options;
  options.stop_requested = &stop_requested;
  struct sigaction action = {};
  action.sa_handler = RequestStop;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  double grace = flags.stop_grace_s;
  if (grace < 0) {
    ASSIGN_OR_RETURN(grace, StopGraceFromEnvironment());
  }
  const StopDeadline deadline(stop_requested, grace);
  options.stop_deadline = &deadline;
  if (options.resume_from.empty()) options.resume_from = job.spec.checkpoint().resume_from();
  std::unique_ptr<Communicator> comm = std::make_unique<LocalCommunicator>(device);
  if (env.world_size > 1) {
    ASSIGN_OR_RETURN(comm, C10dCommunicator::Create(env, device));
    if (env.rank != 0) spdlog::set_level(spdlog::level::warn);  // rank 0 reports progress
  }
  TerminalProgress terminal;
  std::vector<ProgressSink*> sinks = {&terminal};
  ASSIGN_OR_RETURN(std::unique_ptr<CoordinatorReporter> coordinator,
                   CoordinatorReporter::FromEnvironment(env.rank, &stop_requested));
  if (coordinator != nullptr) {
    // Launched by moed: die with it, or rather with the moed thread that started us (a
    // machine that vanished takes its workers along; moed resumes the job when it starts).
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1) return absl::AbortedError("moed went away before training started");
    sinks.push_back(coordinator.get());
  }
  std::unique_ptr<JsonLinesProgress> metrics;
  if (!flags.metrics_file.empty() && env.rank == 0) {
    ASSIGN_OR_RETURN(metrics, JsonLinesProgress::Open(flags.metrics_file));
    sinks.push_back(metrics.get());
  }
  std::unique_ptr<TensorBoardProgress> tensorboard;
  if (job.spec.logging().tensorboard() && env.rank == 0) {
    // TensorBoard is a view: when its directory cannot be made, train without it.
    auto created = TensorBoardProgress::Create(
        std::filesystem::path(job.spec.checkpoint().output_dir()) / "tensorboard");
    if (created.ok()) {
      tensorboard = std::move(*created);
      sinks.push_back(tensorboard.get());
    } else {
      spdlog::warn("no TensorBoard events: {}", created.status().message());
    }
  }
  FanOutProgress progress(sinks);
  ASSIGN_OR_RETURN(std::unique_ptr<Trainer> trainer,
                   Trainer::Create(job.spec, options, *comm, progress));
  return trainer->Run();
}

}  // namespace

void AddTrainCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<TrainFlags>();
  CLI::App* cmd = app.add_subcommand(
      "train",
      "Train a job in this process: to the end of its epochs (or max_steps), with "
      "checkpoints every save_steps (or at the Young/Daly interval for save_steps: auto; in "
      "the background with checkpoint.async), at each epoch's end and at the end. SIGTERM or "
      "Ctrl-C stops all ranks at the next step with a checkpoint (exit code 3; a second signal "
      "stops at once; exit code 4 when --stop-grace ends first, nothing of it committed; exit "
      "code 8, at once, when the save is predicted not to commit within --stop-grace).");
  cmd->add_option("--spec", flags->spec, "Job spec (YAML)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--resume-from", flags->options.resume_from,
                  "A checkpoint directory, or 'latest' (the newest one under output_dir whose "
                  "manifest verifies); default: checkpoint.resume_from of the spec");
  cmd->add_option("--stop-after-steps", flags->options.stop_after_steps,
                  "Checkpoint after this many optimizer steps and exit 0 (to test interruption)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--stop-grace", flags->stop_grace_s,
                  "Seconds a requested stop may take to reach its checkpoint; past them the "
                  "worker exits without committing it, and a save predicted to take longer is "
                  "not started (default: MOE_STOP_GRACE_S, which moed sets, else no limit)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--metrics-file", flags->metrics_file,
                  "Also append each progress report and checkpoint as a JSON line to this file "
                  "(rank 0; full precision)");
  cmd->callback([flags, exit_code] { *exit_code = ExitCode(RunTrain(*flags)); });
}

}  // namespace moe::worker
