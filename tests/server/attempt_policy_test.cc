// moed's attempt decisions by table: how an attempt ended, from the ranks' wait statuses and
// moed's own actions, and what becomes of its job.
#include "server/attempt_policy.h"

#include <signal.h>
#include <sys/wait.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace moe::server {
namespace {

using moe::v1::ATTEMPT_CAUSE_BAD_CHECKPOINT, moe::v1::ATTEMPT_CAUSE_CANCELLED,
    moe::v1::ATTEMPT_CAUSE_COMPLETED, moe::v1::ATTEMPT_CAUSE_CRASHED,
    moe::v1::ATTEMPT_CAUSE_DISK_FULL, moe::v1::ATTEMPT_CAUSE_HEARTBEAT_TIMEOUT,
    moe::v1::ATTEMPT_CAUSE_NODE_FAILED, moe::v1::ATTEMPT_CAUSE_OOM_KILLED,
    moe::v1::ATTEMPT_CAUSE_PREEMPTED, moe::v1::ATTEMPT_CAUSE_SCHEDULER_CANCELLED,
    moe::v1::ATTEMPT_CAUSE_SIGNALED, moe::v1::ATTEMPT_CAUSE_TIME_LIMIT,
    moe::v1::ATTEMPT_CAUSE_USER_ERROR;
using moe::v1::AttemptCause;
using ::testing::HasSubstr;
using Next = JobDecision::Next;

int Exit(int code) { return W_EXITCODE(code, 0); }
int Killed(int signal) { return W_EXITCODE(0, signal); }

struct ClassifyCase {
  const char* what;
  AttemptExits exits;
  AttemptCause cause;
  int32_t exit_code = 0, signal = 0;
};

AttemptExits Statuses(std::vector<int> statuses) {
  AttemptExits e;
  e.wait_statuses = std::move(statuses);
  return e;
}

AttemptExits With(AttemptExits e, void (*change)(AttemptExits&)) {
  change(e);
  return e;
}

TEST(AttemptPolicy, ClassifiesTheRootCauseOverItsEchoes) {
  const std::vector<ClassifyCase> cases = {
      {"every rank exits 0", Statuses({Exit(0), Exit(0)}), ATTEMPT_CAUSE_COMPLETED},
      {"a bad spec on one rank", Statuses({Exit(0), Exit(2)}), ATTEMPT_CAUSE_USER_ERROR, 2},
      {"a bad spec outranks a full disk", Statuses({Exit(7), Exit(2)}), ATTEMPT_CAUSE_USER_ERROR,
       2},
      {"a full disk outranks the crash it caused", Statuses({Exit(7), Exit(1)}),
       ATTEMPT_CAUSE_DISK_FULL, 7},
      {"the allocator gave up", Statuses({Exit(6), Exit(1)}), ATTEMPT_CAUSE_OOM_KILLED, 6},
      {"SIGKILL from the OOM killer",
       With(Statuses({Killed(SIGKILL), Exit(1)}),
            [](AttemptExits& e) { e.oom_killer_struck = true; }),
       ATTEMPT_CAUSE_OOM_KILLED, 0, SIGKILL},
      {"SIGKILL from someone", Statuses({Killed(SIGKILL), Exit(1)}), ATTEMPT_CAUSE_SIGNALED, 0,
       SIGKILL},
      {"a signal outranks the peers' error exits", Statuses({Exit(1), Killed(SIGSEGV)}),
       ATTEMPT_CAUSE_SIGNALED, 0, SIGSEGV},
      {"moed's SIGKILL of a silent rank",
       With(Statuses({Killed(SIGKILL), Exit(3)}),
            [](AttemptExits& e) {
              e.sigterm_sent = e.sigkill_sent = true;
              e.moed_cause = moe::v1::ATTEMPT_CAUSE_HEARTBEAT_TIMEOUT;
            }),
       ATTEMPT_CAUSE_HEARTBEAT_TIMEOUT, 3, 0},  // the code is the peer's stop
      {"a damaged resume checkpoint outranks the crash", Statuses({Exit(1), Exit(5)}),
       ATTEMPT_CAUSE_BAD_CHECKPOINT, 5},
      {"an error exit outranks the stops it caused", Statuses({Exit(3), Exit(1)}),
       ATTEMPT_CAUSE_CRASHED, 1},
      {"someone else's SIGTERM, checkpoint committed", Statuses({Exit(3), Exit(3)}),
       ATTEMPT_CAUSE_PREEMPTED, 3},
      {"someone else's SIGTERM, grace ran out", Statuses({Exit(0), Exit(4)}),
       ATTEMPT_CAUSE_PREEMPTED, 4},
      {"someone else's SIGTERM, the save could not fit the notice", Statuses({Exit(8), Exit(8)}),
       ATTEMPT_CAUSE_PREEMPTED, 8},
      {"an error exit outranks a stop without a save", Statuses({Exit(8), Exit(1)}),
       ATTEMPT_CAUSE_CRASHED, 1},
      {"scancel outranks the stops it caused",
       With(Statuses({Exit(3), Exit(3)}),
            [](AttemptExits& e) { e.scheduler_cause = ATTEMPT_CAUSE_SCHEDULER_CANCELLED; }),
       ATTEMPT_CAUSE_SCHEDULER_CANCELLED, 3},
      {"completed work outranks a node failure after it",
       With(Statuses({Exit(0), Exit(0)}),
            [](AttemptExits& e) { e.scheduler_cause = ATTEMPT_CAUSE_NODE_FAILED; }),
       ATTEMPT_CAUSE_COMPLETED},
      {"a user error outranks the scheduler",
       With(Statuses({Exit(2), Exit(3)}),
            [](AttemptExits& e) { e.scheduler_cause = ATTEMPT_CAUSE_NODE_FAILED; }),
       ATTEMPT_CAUSE_USER_ERROR, 2},
      {"moed's cancel outranks everything",
       With(Statuses({Exit(3), Killed(SIGTERM)}),
            [](AttemptExits& e) {
              e.sigterm_sent = true;
              e.moed_cause = ATTEMPT_CAUSE_CANCELLED;
            }),
       ATTEMPT_CAUSE_CANCELLED, 3},
      {"moed's SIGTERM without a reason of its own",
       With(Statuses({Killed(SIGTERM)}), [](AttemptExits& e) { e.sigterm_sent = true; }),
       ATTEMPT_CAUSE_SIGNALED, 0, SIGTERM},
  };
  for (const ClassifyCase& c : cases) {
    const AttemptCauseAndCode got = ClassifyEnd(c.exits);
    EXPECT_EQ(moe::v1::AttemptCause_Name(got.cause), moe::v1::AttemptCause_Name(c.cause)) << c.what;
    EXPECT_EQ(got.exit_code, c.exit_code) << c.what;
    EXPECT_EQ(got.signal, c.signal) << c.what;
  }
}

struct DecideCase {
  const char* what;
  AttemptCause cause;
  JobHistory job;
  Next next;
  bool charged = false;
  double backoff_s = 0;
  const char* says = "";  // in the failure or the event
};

JobHistory History(int restarts, int max_restarts) {
  JobHistory h;
  h.restarts = restarts;
  h.max_restarts = max_restarts;
  return h;
}

JobHistory With(JobHistory h, void (*change)(JobHistory&)) {
  change(h);
  return h;
}

TEST(AttemptPolicy, DecidesWhatBecomesOfTheJob) {
  const std::vector<DecideCase> cases = {
      {"completed", ATTEMPT_CAUSE_COMPLETED, History(0, 3), Next::kComplete},
      {"completed even though a cancel came late", ATTEMPT_CAUSE_COMPLETED,
       With(History(0, 3), [](JobHistory& h) { h.cancel_requested = true; }), Next::kComplete},
      {"cancelled", ATTEMPT_CAUSE_CANCELLED,
       With(History(0, 3), [](JobHistory& h) { h.cancel_requested = true; }), Next::kCancel},
      {"moed stopping", ATTEMPT_CAUSE_PREEMPTED,
       With(History(3, 3), [](JobHistory& h) { h.moed_shutting_down = true; }), Next::kInterrupt},
      {"a user error is not retried", ATTEMPT_CAUSE_USER_ERROR, History(0, 3), Next::kFail, false,
       0, "not retried"},
      {"a damaged resume checkpoint, budget spent", ATTEMPT_CAUSE_BAD_CHECKPOINT, History(3, 3),
       Next::kSetAsideDamaged},
      {"a full disk waits, budget spent", ATTEMPT_CAUSE_DISK_FULL, History(3, 3),
       Next::kWaitForDisk},
      {"preempted: uncharged, the first backoff", ATTEMPT_CAUSE_PREEMPTED, History(3, 3),
       Next::kRequeue, false, 1, "preempted"},
      {"a time limit with a checkpoint: uncharged", ATTEMPT_CAUSE_TIME_LIMIT,
       With(History(1, 3), [](JobHistory& h) { h.committed_checkpoint = true; }), Next::kRequeue,
       false, 1},
      {"a time limit without one: charged", ATTEMPT_CAUSE_TIME_LIMIT, History(1, 3), Next::kRequeue,
       true, 2, "restart 2 of 3 in 2 s"},
      {"out of memory twice from one start", ATTEMPT_CAUSE_OOM_KILLED,
       With(History(1, 3),
            [](JobHistory& h) {
              h.out_of_memory_before_from_same_start = true;
              h.resume_from = "/runs/x/checkpoint-step-40";
            }),
       Next::kFail, false, 0,
       "out of memory twice from the same start (/runs/x/checkpoint-step-40)"},
      {"out of memory once: retried", ATTEMPT_CAUSE_OOM_KILLED, History(0, 3), Next::kRequeue, true,
       1, "restart 1 of 3 in 1 s"},
      {"a crash: the backoff doubles", ATTEMPT_CAUSE_CRASHED, History(2, 3), Next::kRequeue, true,
       4, "restart 3 of 3 in 4 s"},
      {"a crash with the budget spent", ATTEMPT_CAUSE_CRASHED, History(3, 3), Next::kFail, false, 0,
       "a worker exited with an error; gave up after 3 restarts"},
      {"the backoff stops at its maximum", ATTEMPT_CAUSE_HEARTBEAT_TIMEOUT, History(10, 20),
       Next::kRequeue, true, 60},
      {"scancel: charged", ATTEMPT_CAUSE_SCHEDULER_CANCELLED, History(0, 1), Next::kRequeue, true,
       1},
      {"no budget at all", ATTEMPT_CAUSE_CRASHED, History(0, 0), Next::kFail, false, 0,
       "gave up after 0 restarts"},
  };
  for (const DecideCase& c : cases) {
    const JobDecision d = DecideNext(c.cause, c.job, RestartPolicy{1, 60});
    EXPECT_EQ(static_cast<int>(d.next), static_cast<int>(c.next)) << c.what;
    EXPECT_EQ(d.charged, c.charged) << c.what;
    EXPECT_DOUBLE_EQ(d.backoff_s, c.backoff_s) << c.what;
    EXPECT_THAT(d.next == Next::kFail ? d.failure : d.event, HasSubstr(c.says)) << c.what;
  }
}

TEST(AttemptPolicy, EveryCauseHasWords) {
  for (int c = moe::v1::ATTEMPT_CAUSE_COMPLETED; c <= moe::v1::AttemptCause_MAX; ++c) {
    EXPECT_STRNE(DescribeCause(static_cast<AttemptCause>(c)), "unknown")
        << moe::v1::AttemptCause_Name(static_cast<AttemptCause>(c));
  }
}

}  // namespace
}  // namespace moe::server
