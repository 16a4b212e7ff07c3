// moed's decisions about an attempt that ended, as pure functions of what it observed (no
// clock, files, processes or catalogue), so that each is tested by table
// (tests/server/attempt_policy_test.cc). The coordinator gathers the inputs and applies the
// decision in one catalogue transaction.
//
//   ClassifyEnd: the workers' wait statuses and moed's own actions -> why the attempt ended
//   DecideNext:  why it ended and the job's history -> what becomes of the job
#ifndef MOE_SERVER_ATTEMPT_POLICY_H_
#define MOE_SERVER_ATTEMPT_POLICY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "moe/v1/service.pb.h"

namespace moe::server {

// What the end of an attempt looked like.
struct AttemptExits {
  std::vector<int> wait_statuses;  // wait(2) statuses, one per rank
  bool sigterm_sent = false;       // moed asked the ranks to stop (cancel, hang, shutdown)
  bool sigkill_sent = false;       // and then killed them
  bool oom_killer_struck = false;  // the kernel's OOM kill count in moed's cgroup rose meanwhile
  // A scheduler's reason (scancel, a node failure, its time limit); UNSPECIFIED: none.
  moe::v1::AttemptCause scheduler_cause = moe::v1::ATTEMPT_CAUSE_UNSPECIFIED;
  // Why moed itself ended it (cancel, a silent rank, shutdown); UNSPECIFIED: it did not.
  moe::v1::AttemptCause moed_cause = moe::v1::ATTEMPT_CAUSE_UNSPECIFIED;
};

struct AttemptCauseAndCode {
  moe::v1::AttemptCause cause = moe::v1::ATTEMPT_CAUSE_UNSPECIFIED;
  int32_t exit_code = 0, signal = 0;  // of the rank to blame
};

// Why the attempt ended. The root cause outranks its echoes: a user error, a full disk,
// running out of memory, a signal moed did not send (the peers of a killed rank fail in their
// collectives and exit with errors), a damaged resume checkpoint, an error exit, and last a
// stop on someone else's request. A scheduler's reason outranks all but a user error and
// completed work; moed's own reason outranks everything.
AttemptCauseAndCode ClassifyEnd(const AttemptExits& exits);

// What the decision needs of the job besides the cause.
struct JobHistory {
  bool cancel_requested = false;      // moectl cancel
  bool moed_shutting_down = false;    // SIGTERM or a spot notice to moed
  bool committed_checkpoint = false;  // this attempt committed one
  // The attempt before this one ran out of memory from the same start.
  bool out_of_memory_before_from_same_start = false;
  int32_t restarts = 0, max_restarts = 0;
  std::string resume_from;  // the start this attempt had ("" = step 0)
  // After running out of memory: what the job's memory plan advises (OutOfMemoryAdvice), or
  // "" when it cannot say.
  std::string memory_advice;
};

struct RestartPolicy {
  double backoff_initial_s = 1, backoff_max_s = 60;  // doubled per charged restart
};

// What becomes of the job.
struct JobDecision {
  enum class Next {
    kComplete,         // COMPLETED
    kCancel,           // CANCELLED
    kInterrupt,        // INTERRUPTED (resumed when moed starts)
    kFail,             // FAILED with `failure`
    kSetAsideDamaged,  // its resume checkpoint failed verification: set it aside, queue again
    kWaitForDisk,      // QUEUED until the save's file system has room
    kRequeue,          // QUEUED from the newest committed checkpoint after `backoff_s`
  };
  Next next = Next::kFail;
  std::string failure;   // kFail: why, in words
  bool charged = false;  // kRequeue: counts against resources.max_restarts
  double backoff_s = 0;  // kRequeue: not before the end + this
  std::string event;     // kRequeue: what moed says of it
};
JobDecision DecideNext(moe::v1::AttemptCause cause, const JobHistory& job,
                       const RestartPolicy& policy);

// A cause in words: "a worker exited with an error".
const char* DescribeCause(moe::v1::AttemptCause cause);

}  // namespace moe::server

#endif  // MOE_SERVER_ATTEMPT_POLICY_H_
