#include "server/attempt_policy.h"

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "absl/strings/str_cat.h"
#include "common/exit_codes.h"

namespace moe::server {
namespace {

using moe::v1::AttemptCause;

// The first rank whose status `matches`, or -1.
int FirstRank(const std::vector<int>& statuses, const std::function<bool(int)>& matches) {
  const auto it = std::find_if(statuses.begin(), statuses.end(), matches);
  return it == statuses.end() ? -1 : static_cast<int>(it - statuses.begin());
}

bool Exited(int status, int code) { return WIFEXITED(status) && WEXITSTATUS(status) == code; }

// ClassifyEnd from the exit statuses alone.
AttemptCauseAndCode FromStatuses(const AttemptExits& e) {
  const std::vector<int>& s = e.wait_statuses;
  // Exit codes that name their cause, most fundamental first.
  for (const auto& [code, cause] :
       {std::pair{common::kExitUserError, moe::v1::ATTEMPT_CAUSE_USER_ERROR},
        std::pair{common::kExitDiskFull, moe::v1::ATTEMPT_CAUSE_DISK_FULL},
        std::pair{common::kExitOutOfMemory, moe::v1::ATTEMPT_CAUSE_OOM_KILLED}}) {
    if (FirstRank(s, [code = code](int st) { return Exited(st, code); }) >= 0) {
      return {cause, code, 0};
    }
  }
  // A signal moed did not send.
  if (const int r = FirstRank(s,
                              [&](int st) {
                                if (!WIFSIGNALED(st)) return false;
                                const int sig = WTERMSIG(st);
                                return !((sig == SIGTERM && e.sigterm_sent) ||
                                         (sig == SIGKILL && e.sigkill_sent));
                              });
      r >= 0) {
    const int sig = WTERMSIG(s[r]);
    return {sig == SIGKILL && e.oom_killer_struck ? moe::v1::ATTEMPT_CAUSE_OOM_KILLED
                                                  : moe::v1::ATTEMPT_CAUSE_SIGNALED,
            0, sig};
  }
  if (FirstRank(s, [](int st) { return Exited(st, common::kExitBadCheckpoint); }) >= 0) {
    return {moe::v1::ATTEMPT_CAUSE_BAD_CHECKPOINT, common::kExitBadCheckpoint, 0};
  }
  // An error exit outranks the stops it caused: moed SIGTERMs a crashed rank's peers, which
  // then stop with (or, hung on the dead peer, without) a checkpoint.
  if (const int r = FirstRank(s,
                              [](int st) {
                                const int code = WIFEXITED(st) ? WEXITSTATUS(st) : 0;
                                return code != common::kExitOk && !common::IsStopExit(code);
                              });
      r >= 0) {
    return {moe::v1::ATTEMPT_CAUSE_CRASHED, WEXITSTATUS(s[r]), 0};
  }
  // Stopped by someone else's SIGTERM (a spot VM going down), with a checkpoint or without one
  // (past the grace period, or when the save could not have finished within it).
  if (const int r =
          FirstRank(s, [](int st) { return WIFEXITED(st) && common::IsStopExit(WEXITSTATUS(st)); });
      r >= 0) {
    return {moe::v1::ATTEMPT_CAUSE_PREEMPTED, WEXITSTATUS(s[r]), 0};
  }
  if (const int r = FirstRank(s, [](int st) { return WIFSIGNALED(st); }); r >= 0) {
    return {moe::v1::ATTEMPT_CAUSE_SIGNALED, 0, WTERMSIG(s[r])};
  }
  return {moe::v1::ATTEMPT_CAUSE_COMPLETED, 0, 0};
}

}  // namespace

AttemptCauseAndCode ClassifyEnd(const AttemptExits& exits) {
  AttemptCauseAndCode end = FromStatuses(exits);
  if (exits.scheduler_cause != moe::v1::ATTEMPT_CAUSE_UNSPECIFIED &&
      end.cause != moe::v1::ATTEMPT_CAUSE_USER_ERROR &&
      end.cause != moe::v1::ATTEMPT_CAUSE_COMPLETED) {
    end.cause = exits.scheduler_cause;
  }
  if (exits.moed_cause != moe::v1::ATTEMPT_CAUSE_UNSPECIFIED) end.cause = exits.moed_cause;
  return end;
}

JobDecision DecideNext(AttemptCause cause, const JobHistory& job, const RestartPolicy& policy) {
  using Next = JobDecision::Next;
  JobDecision d;
  if (cause == moe::v1::ATTEMPT_CAUSE_COMPLETED) {
    d.next = Next::kComplete;
  } else if (job.cancel_requested) {
    d.next = Next::kCancel;
  } else if (job.moed_shutting_down) {
    d.next = Next::kInterrupt;
  } else if (cause == moe::v1::ATTEMPT_CAUSE_USER_ERROR) {
    d.failure = absl::StrCat(DescribeCause(cause), "; not retried");
  } else if (cause == moe::v1::ATTEMPT_CAUSE_BAD_CHECKPOINT) {
    d.next = Next::kSetAsideDamaged;
  } else if (cause == moe::v1::ATTEMPT_CAUSE_DISK_FULL) {
    d.next = Next::kWaitForDisk;  // retrying cannot help until there is room
  } else if (cause == moe::v1::ATTEMPT_CAUSE_PREEMPTED ||
             (cause == moe::v1::ATTEMPT_CAUSE_TIME_LIMIT && job.committed_checkpoint)) {
    // Not the job's fault: on from the checkpoint it just wrote, without using the budget.
    d.next = Next::kRequeue;
    d.backoff_s = policy.backoff_initial_s;
    d.event = "preempted: resuming from the checkpoint it committed";
  } else if (cause == moe::v1::ATTEMPT_CAUSE_OOM_KILLED &&
             job.out_of_memory_before_from_same_start) {
    d.failure = absl::StrCat(
        "out of memory twice from the same start (",
        job.resume_from.empty() ? "step 0" : job.resume_from, "); not retried: ",
        job.memory_advice.empty()
            ? "lower training.micro_batch_size, turn on activation checkpointing or use more "
              "devices (moectl plan shows the job's memory)"
            : job.memory_advice);
  } else if (job.restarts < job.max_restarts) {
    d.next = Next::kRequeue;
    d.charged = true;
    d.backoff_s =
        std::min(policy.backoff_max_s, policy.backoff_initial_s * std::pow(2.0, job.restarts));
    d.event = absl::StrCat("restart ", job.restarts + 1, " of ", job.max_restarts, " in ",
                           d.backoff_s, " s from the newest committed checkpoint");
  } else {
    d.failure = absl::StrCat(DescribeCause(cause), "; gave up after ", job.restarts,
                             " restarts (resources.max_restarts)");
  }
  return d;
}

const char* DescribeCause(AttemptCause cause) {
  switch (cause) {
    case moe::v1::ATTEMPT_CAUSE_COMPLETED:
      return "completed";
    case moe::v1::ATTEMPT_CAUSE_CRASHED:
      return "a worker exited with an error";
    case moe::v1::ATTEMPT_CAUSE_SIGNALED:
      return "a worker was killed by a signal";
    case moe::v1::ATTEMPT_CAUSE_OOM_KILLED:
      return "a worker was killed for lack of memory";
    case moe::v1::ATTEMPT_CAUSE_HEARTBEAT_TIMEOUT:
      return "a worker stopped heartbeating";
    case moe::v1::ATTEMPT_CAUSE_PREEMPTED:
      return "preempted";
    case moe::v1::ATTEMPT_CAUSE_USER_ERROR:
      return "the spec, data or checkpoint is unusable (see the rank logs)";
    case moe::v1::ATTEMPT_CAUSE_CANCELLED:
      return "cancelled";
    case moe::v1::ATTEMPT_CAUSE_INTERRUPTED:
      return "moed or the machine went away";
    case moe::v1::ATTEMPT_CAUSE_BAD_CHECKPOINT:
      return "the checkpoint it resumed from failed verification";
    case moe::v1::ATTEMPT_CAUSE_SCHEDULER_CANCELLED:
      return "cancelled in the scheduler (scancel) by someone other than moed";
    case moe::v1::ATTEMPT_CAUSE_NODE_FAILED:
      return "a node of its allocation failed";
    case moe::v1::ATTEMPT_CAUSE_TIME_LIMIT:
      return "it reached the scheduler's time limit";
    case moe::v1::ATTEMPT_CAUSE_DISK_FULL:
      return "a save it could not skip ran out of disk space";
    case moe::v1::ATTEMPT_CAUSE_STALLED:
      return "no step progressed for many times the usual interval (a rank stuck)";
    default:
      return "unknown";
  }
}

}  // namespace moe::server
