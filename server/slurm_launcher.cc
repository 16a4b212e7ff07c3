#include "server/slurm_launcher.h"

#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <optional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "common/worker_token.h"
#include "server/subprocess.h"

namespace moe::server {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr char kHandlePrefix[] = "slurm:";

// What each task runs, in bash: the rank's variables from Slurm's (its worker token derived
// from the attempt's secret as common::WorkerToken does, and the secret dropped), the worker, and
// its exit status written atomically for moed. SIGTERM reaches the worker straight from Slurm; the
// shell only waits for it (a trapped signal waits for the foreground command).
constexpr char kTaskScript[] =
    "trap : TERM INT\n"
    "export RANK=$SLURM_PROCID LOCAL_RANK=$SLURM_LOCALID WORLD_SIZE=$SLURM_NTASKS\n"
    "export MOE_WORKER_TOKEN=$(printf 'moetrain-worker:%s:%s:%s:%s' \"$MOE_JOB_ID\" "
    "\"$MOE_ATTEMPT_ID\" \"$SLURM_PROCID\" \"$MOE_WORKER_SECRET\" | sha256sum | cut -c1-64)\n"
    "unset MOE_WORKER_SECRET\n"
    "\"$@\"\n"
    "rc=$?\n"
    "exit_file=\"$MOE_RANK_DIR/rank-$SLURM_PROCID.exit\"\n"
    "printf '%d\\n' \"$rc\" > \"$exit_file.tmp\" && mv -f \"$exit_file.tmp\" \"$exit_file\"\n"
    "exit \"$rc\"\n";

// `file` (a Slurm filename pattern such as rank-%t.log) in `dir`, whose own % are literal.
std::string SlurmPattern(const fs::path& dir, const std::string& file) {
  return absl::StrReplaceAll(dir.string(), {{"%", "%%"}}) + "/" + file;
}

// The whole batch script of an attempt.
std::string BatchScript(const LaunchRequest& request) {
  std::string worker = absl::StrCat(ShellQuote(request.worker_binary), " train --spec ",
                                    ShellQuote(request.spec.string()));
  if (!request.resume_from.empty()) {
    absl::StrAppend(&worker, " --resume-from ", ShellQuote(request.resume_from));
  }
  return absl::StrCat(
      "#!/bin/bash\n"
      "# moetrain job ",
      request.job_id, ", attempt ", request.attempt_id,
      ": written by moed and submitted with sbatch; each task is one rank.\n"
      "# moed's variables (MOE_*) come through sbatch's environment.\n"
      "trap : TERM INT  # Slurm signals this shell too: it waits for srun to end\n"
      "export MASTER_ADDR=$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n 1)\n"
      "export MASTER_PORT=$((20000 + SLURM_JOB_ID % 20000))\n"
      "srun --kill-on-bad-exit=0 --open-mode=append --output=",
      ShellQuote(SlurmPattern(request.log_dir, "rank-%t.log")), " \\\n  /bin/bash -c ",
      ShellQuote(kTaskScript), " moe-rank \\\n  ", worker, "\n");
}

// Seconds on a monotonic clock.
double Now() { return std::chrono::duration<double>(Clock::now().time_since_epoch()).count(); }

constexpr char kForgotten[] = "FORGOTTEN";

// The job's state word, kForgotten once neither squeue nor sacct knows the job. Errors are
// Slurm being unreachable (the job's fate unknown).
absl::StatusOr<std::string> QueryState(const std::string& job_id, double timeout_s) {
  const std::vector<std::string> env = CurrentEnvironment();
  ASSIGN_OR_RETURN(
      const CommandResult queued,
      RunCommand({"squeue", "-h", "--states=all", "-j", job_id, "-o", "%T"}, env, timeout_s));
  const std::string state(absl::StripAsciiWhitespace(queued.out));
  if (queued.exit_code == 0 && !state.empty()) return state;
  if (queued.exit_code != 0 && !absl::StrContains(queued.err, "Invalid job id")) {
    return absl::UnavailableError(absl::StrCat("squeue: ", absl::StripAsciiWhitespace(queued.err)));
  }
  // squeue forgets ended jobs after MinJobAge: the accounting database remembers them.
  ASSIGN_OR_RETURN(
      const CommandResult accounted,
      RunCommand({"sacct", "-n", "-X", "-P", "-j", job_id, "-o", "State"}, env, timeout_s));
  const std::string recorded(absl::StripAsciiWhitespace(accounted.out));
  if (accounted.exit_code == 0) {
    if (recorded.empty()) return std::string(kForgotten);
    return recorded.substr(0, recorded.find('\n'));  // the job, before its steps
  }
  if (absl::StrContains(accounted.err, "accounting storage is disabled")) {
    return std::string(kForgotten);  // no database to remember it
  }
  return absl::UnavailableError(absl::StrCat("sacct: ", absl::StripAsciiWhitespace(accounted.err)));
}

// What moed last heard of a Slurm job, shared by the attempt and the thread that asks Slurm
// (which may outlive the attempt by one command).
struct Tracker {
  absl::Mutex mu;
  SlurmState state ABSL_GUARDED_BY(mu) = {false, true};  // pending until Slurm says
  bool by_moed ABSL_GUARDED_BY(mu) = false;              // moed cancelled the job
  bool forgotten ABSL_GUARDED_BY(mu) = false;            // neither squeue nor sacct knows the job
  std::string last_error ABSL_GUARDED_BY(mu);
  absl::Notification stop;

  // Asks Slurm for the job's state once. An unreachable Slurm leaves the state as it was.
  void Poll(const std::string& job_id, double timeout_s) {
    const auto answer = QueryState(job_id, timeout_s);
    absl::MutexLock lock(&mu);
    if (!answer.ok()) {
      if (answer.status().message() != last_error) {
        spdlog::warn("slurm job {}: {} (trying again)", job_id, answer.status().message());
        last_error = std::string(answer.status().message());
      }
      return;
    }
    last_error.clear();
    forgotten = *answer == kForgotten;
    state = InterpretSlurmState(*answer, by_moed);
  }
};

// One attempt's Slurm job. A thread of its own asks Slurm for the job's state every poll
// interval, so that a slow or unreachable slurmctld never holds up the coordinator; Reap reads
// what it last heard, and the ranks' exit files.
class SlurmWorkers : public WorkerGroup {
 public:
  SlurmWorkers(const SlurmOptions& options, std::string job_id, int world_size, fs::path log_dir)
      : options_(options),
        job_id_(std::move(job_id)),
        log_dir_(std::move(log_dir)),
        reported_(world_size, false),
        statuses_(world_size) {}
  ~SlurmWorkers() override {
    // Not joined: the thread may be inside a squeue call, and this runs under the
    // coordinator's lock. It ends after that call.
    tracker_->stop.Notify();
  }

  // Starts following the job.
  void Follow() {
    std::thread([tracker = tracker_, job_id = job_id_, poll_s = options_.poll_s,
                 timeout_s = options_.command_timeout_s] {
      do {
        tracker->Poll(job_id, timeout_s);
        absl::MutexLock lock(&tracker->mu);
        if (tracker->state.ended) break;
      } while (!tracker->stop.WaitForNotificationWithTimeout(absl::Seconds(poll_s)));
    }).detach();
  }

  std::string handle() const override { return kHandlePrefix + job_id_; }

  std::vector<std::pair<int, int>> Reap() override {
    ReadExitFiles();
    SlurmState state = State();
    // The last ranks are held back until Slurm says the job ended, so that an attempt ends
    // with Slurm's reason (a scancel) and no task of it still runs.
    if (AllExited() && !state.ended && !gave_up_) {
      if (all_exited_at_ == 0) all_exited_at_ = Now();
      if (Now() - all_exited_at_ < kAllExitedPatience_s) return {};
      spdlog::warn("slurm job {}: every rank exited {} s ago but the job goes on: cancelling it",
                   job_id_, kAllExitedPatience_s);
      Cancel();
      gave_up_ = true;
    }
    if (state.ended && ended_at_ == 0) ended_at_ = Now();
    // A rank that left no exit file was killed, once a shared file system had time to show it.
    const bool missing_are_killed = state.ended && Now() - ended_at_ >= kExitFileGrace_s;
    std::vector<std::pair<int, int>> reaped;
    for (size_t rank = 0; rank < statuses_.size(); ++rank) {
      if (reported_[rank]) continue;
      if (!statuses_[rank] && missing_are_killed) statuses_[rank] = SIGKILL;
      if (!statuses_[rank]) continue;
      reported_[rank] = true;
      reaped.emplace_back(static_cast<int>(rank), *statuses_[rank]);
    }
    return reaped;
  }

  void Signal(int signal) override {
    if (State().pending || signal == SIGKILL) {
      if (signal == SIGKILL) Scancel({"--signal=KILL", "--full"});
      Cancel();
      return;
    }
    // The steps' tasks only: the batch shell waits for srun.
    Scancel({absl::StrCat("--signal=", signal == SIGTERM ? "TERM" : std::to_string(signal))});
  }

  bool HeartbeatsDue() override {
    // Queued, suspended, or every rank exited and Slurm is ending the job: no worker runs.
    const SlurmState state = State();
    return !state.pending && !state.suspended && !AllExited();
  }

  moe::v1::AttemptCause SchedulerCause() const override { return State().cause; }

  // Asks Slurm now: whether it knows the job, or the ranks left a trace of it in exit files.
  bool Known() {
    ReadExitFiles();
    for (const auto& status : statuses_) {
      if (status) return true;
    }
    tracker_->Poll(job_id_, options_.command_timeout_s);
    absl::MutexLock lock(&tracker_->mu);
    return !tracker_->forgotten;
  }

 private:
  static constexpr double kAllExitedPatience_s = 30, kExitFileGrace_s = 5;

  SlurmState State() const {
    absl::MutexLock lock(&tracker_->mu);
    return tracker_->state;
  }

  bool AllExited() const {
    for (const auto& status : statuses_) {
      if (!status) return false;
    }
    return true;
  }

  void ReadExitFiles() {
    for (size_t rank = 0; rank < statuses_.size(); ++rank) {
      if (statuses_[rank]) continue;
      std::ifstream in(log_dir_ / absl::StrCat("rank-", rank, ".exit"));
      int code = 0;
      if (!(in >> code)) continue;
      // bash's $?: 128 + N for a worker killed by signal N.
      statuses_[rank] = code > 128 && code < 128 + 64 ? code - 128 : (code & 0xff) << 8;
    }
  }

  // Ends the job; its CANCELLED state is then moed's doing, not an operator's.
  void Cancel() {
    {
      absl::MutexLock lock(&tracker_->mu);
      tracker_->by_moed = true;
    }
    Scancel({});
  }

  void Scancel(const std::vector<std::string>& flags) const {
    std::vector<std::string> argv = {"scancel"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.push_back(job_id_);
    const auto result = RunCommand(argv, CurrentEnvironment(), options_.command_timeout_s);
    if (!result.ok()) {
      spdlog::warn("slurm job {}: {}", job_id_, result.status().message());
    } else if (result->exit_code != 0) {
      spdlog::warn("slurm job {}: scancel: {}", job_id_, absl::StripAsciiWhitespace(result->err));
    }
  }

  const SlurmOptions options_;
  const std::string job_id_;
  const fs::path log_dir_;
  const std::shared_ptr<Tracker> tracker_ = std::make_shared<Tracker>();
  // Reap's: by rank.
  std::vector<bool> reported_;
  std::vector<std::optional<int>> statuses_;  // wait(2)-style, once known
  double all_exited_at_ = 0, ended_at_ = 0;
  bool gave_up_ = false;  // on waiting for Slurm to end a job whose ranks all exited
};

}  // namespace

std::string ShellQuote(const std::string& text) {
  return absl::StrCat("'", absl::StrReplaceAll(text, {{"'", "'\\''"}}), "'");
}

SlurmState InterpretSlurmState(const std::string& text, bool by_moed) {
  // sacct says "CANCELLED by 1000"; squeue says "CANCELLED".
  const std::string state(text.substr(0, text.find(' ')));
  SlurmState s;
  if (state == "PENDING" || state == "CONFIGURING" || state == "REQUEUED" ||
      state == "REQUEUE_HOLD" || state == "REQUEUE_FED" || state == "RESV_DEL_HOLD") {
    s.pending = true;
    return s;
  }
  if (state == "SUSPENDED" || state == "STOPPED") {
    s.suspended = true;  // its processes are stopped: no heartbeat until it resumes
    return s;
  }
  if (state == "RUNNING" || state == "COMPLETING" || state == "SIGNALING" || state == "STAGE_OUT" ||
      state == "RESIZING") {
    return s;
  }
  s.ended = true;  // COMPLETED, FAILED, CANCELLED, TIMEOUT, PREEMPTED, NODE_FAIL, ...
  if (state == "CANCELLED" && !by_moed) {
    s.cause = moe::v1::ATTEMPT_CAUSE_SCHEDULER_CANCELLED;
  } else if (state == "NODE_FAIL" || state == "BOOT_FAIL") {
    s.cause = moe::v1::ATTEMPT_CAUSE_NODE_FAILED;
  } else if (state == "PREEMPTED") {
    s.cause = moe::v1::ATTEMPT_CAUSE_PREEMPTED;  // stopped with a checkpoint, not the job's fault
  } else if (state == "TIMEOUT" || state == "DEADLINE") {
    s.cause = moe::v1::ATTEMPT_CAUSE_TIME_LIMIT;
  } else if (state == "OUT_OF_MEMORY") {
    s.cause = moe::v1::ATTEMPT_CAUSE_OOM_KILLED;
  }
  return s;
}

moe::v1::SlurmSpec SlurmLauncher::Resolve(const moe::v1::SlurmSpec& spec) const {
  moe::v1::SlurmSpec resolved = options_.defaults;
  if (!spec.partition().empty()) resolved.set_partition(spec.partition());
  if (spec.nodes() > 0) resolved.set_nodes(spec.nodes());
  if (spec.gpus_per_node() > 0) resolved.set_gpus_per_node(spec.gpus_per_node());
  if (!spec.time_limit().empty()) resolved.set_time_limit(spec.time_limit());
  if (!spec.account().empty()) resolved.set_account(spec.account());
  if (resolved.nodes() == 0) resolved.set_nodes(1);
  return resolved;
}

absl::Status SlurmLauncher::CheckLayout(const moe::v1::JobSpec& spec) const {
  const moe::v1::SlurmSpec slurm = Resolve(spec.resources().slurm());
  const uint32_t world = spec.resources().world_size();
  if (slurm.gpus_per_node() > 0 && world != slurm.nodes() * slurm.gpus_per_node()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "resources.world_size is ", world, " but resources.slurm asks for ", slurm.nodes(),
        " nodes x ", slurm.gpus_per_node(), " GPUs (one rank per GPU)"));
  }
  if (world % slurm.nodes() != 0) {
    return absl::InvalidArgumentError(absl::StrCat("resources.world_size ", world,
                                                   " cannot be split evenly over ", slurm.nodes(),
                                                   " nodes (resources.slurm.nodes)"));
  }
  return absl::OkStatus();
}

absl::Status SlurmLauncher::Admit(const moe::v1::JobSpec& spec, int) const {
  RETURN_IF_ERROR(CheckLayout(spec));
  // Slurm's own word on the partition, account, time limit and shape, before the job queues.
  std::vector<std::string> argv =
      SbatchArguments(Resolve(spec.resources().slurm()), spec.resources().world_size());
  argv.insert(argv.begin() + 1, "--test-only");
  argv.push_back("--wrap=true");
  const auto probe = RunCommand(argv, CurrentEnvironment(), options_.command_timeout_s);
  if (!probe.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        probe.status().message(), " (install slurm-client, or resources.launcher: local)"));
  }
  const std::string said(absl::StripAsciiWhitespace(probe->err));
  if (probe->exit_code == 0) return absl::OkStatus();
  if (absl::StrContains(said, "Unable to contact slurm controller")) {
    // Slurm is down for now, not refusing: the job waits for it in the queue.
    spdlog::warn("cannot check the job with Slurm now: {}", said);
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("Slurm refuses resources.slurm (sbatch --test-only): ", said));
}

std::vector<std::string> SlurmLauncher::SbatchArguments(const moe::v1::SlurmSpec& slurm,
                                                        uint32_t world_size) const {
  std::vector<std::string> argv = {"sbatch", absl::StrCat("--nodes=", slurm.nodes()),
                                   absl::StrCat("--ntasks=", world_size),
                                   absl::StrCat("--ntasks-per-node=", world_size / slurm.nodes()),
                                   // moed restarts the job itself, from its newest checkpoint,
                                   // as a new attempt.
                                   "--no-requeue"};
  if (slurm.gpus_per_node() > 0) {
    argv.push_back(absl::StrCat("--gpus-per-node=", slurm.gpus_per_node()));
  }
  if (!slurm.partition().empty()) argv.push_back("--partition=" + slurm.partition());
  if (!slurm.time_limit().empty()) argv.push_back("--time=" + slurm.time_limit());
  if (!slurm.account().empty()) argv.push_back("--account=" + slurm.account());
  return argv;
}

absl::StatusOr<std::unique_ptr<WorkerGroup>> SlurmLauncher::Launch(const LaunchRequest& request) {
  std::error_code ec;
  fs::create_directories(request.log_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat(request.log_dir.string(), ": ", ec.message()));
  const fs::path script = request.log_dir / "slurm-batch.sh";
  {
    std::ofstream out(script);
    out << BatchScript(request);
    if (!out.flush()) return absl::InternalError(absl::StrCat("cannot write ", script.string()));
  }
  fs::permissions(script, fs::perms::owner_all, ec);

  const std::string name = absl::StrCat("moe-", request.job_id, ".", request.attempt_id);
  std::vector<std::string> argv =
      SbatchArguments(Resolve(request.slurm), static_cast<uint32_t>(request.world_size));
  argv.insert(argv.end(), {"--parsable", "--job-name=" + name, "--export=ALL",
                           absl::StrCat("--output=", SlurmPattern(request.log_dir, "slurm-%j.out")),
                           absl::StrCat("--chdir=", request.log_dir.string())});
  argv.push_back(script.string());

  const std::vector<std::string> env = WorkerEnvironment(
      request, {"MOE_RANK_DIR=" + request.log_dir.string(),
                absl::StrCat(common::kWorkerSecretVariable, "=", request.worker_secret)});
  const auto result = RunCommand(argv, env, options_.command_timeout_s);
  if (absl::IsDeadlineExceeded(result.status())) {
    // sbatch may have submitted it all the same: no job of this attempt may run unrecorded.
    // Best effort: the sbatch error is the one to report. Should scancel fail too, such a job
    // runs unknown to moed, and its reports are refused (its attempt has ended).
    (void)RunCommand({"scancel", "--name=" + name}, CurrentEnvironment(),
                     options_.command_timeout_s);
  }
  if (!result.ok()) return result.status();
  const CommandResult& submitted = *result;
  const std::string out(absl::StripAsciiWhitespace(submitted.out));
  const std::string job_id = out.substr(0, out.find(';'));  // "id;cluster" on a federation
  int64_t parsed = 0;
  if (submitted.exit_code != 0 || !absl::SimpleAtoi(job_id, &parsed)) {
    const std::string said(absl::StripAsciiWhitespace(submitted.err));
    const std::string why =
        absl::StrCat("sbatch failed (exit code ", submitted.exit_code, "): ", said, out);
    // Slurm unreachable or busy: try again later. Slurm refusing the job: that is final.
    if (absl::StrContains(said, "Unable to contact") || absl::StrContains(said, "timed out") ||
        absl::StrContains(said, "Resource temporarily unavailable")) {
      return absl::UnavailableError(why);
    }
    return absl::FailedPreconditionError(why);
  }
  spdlog::info("job {} attempt {}: Slurm job {}", request.job_id, request.attempt_id, job_id);
  auto workers =
      std::make_unique<SlurmWorkers>(options_, job_id, request.world_size, request.log_dir);
  workers->Follow();
  return workers;
}

bool SlurmLauncher::OwnsHandle(const std::string& handle) const {
  return absl::StartsWith(handle, kHandlePrefix);
}

absl::StatusOr<std::unique_ptr<WorkerGroup>> SlurmLauncher::Reattach(const std::string& handle,
                                                                     int world_size,
                                                                     const fs::path& log_dir) {
  absl::string_view id = handle;
  int64_t parsed = 0;
  if (!absl::ConsumePrefix(&id, kHandlePrefix) || !absl::SimpleAtoi(id, &parsed)) {
    return absl::InvalidArgumentError(absl::StrCat("not a Slurm job: ", handle));
  }
  auto workers = std::make_unique<SlurmWorkers>(options_, std::string(id), world_size, log_dir);
  if (!workers->Known()) {
    return absl::NotFoundError(absl::StrCat("Slurm knows nothing of job ", id, " any more"));
  }
  workers->Follow();
  return workers;
}

}  // namespace moe::server
