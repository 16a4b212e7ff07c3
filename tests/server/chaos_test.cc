// Chaos: a 2-worker CPU job under moed while a driver delivers random faults with a fixed
// seed — kill -9 of a worker (at any moment, and while a background save is being written), of
// moed, of everything; SIGTERM to a worker and to moed; a frozen worker (caught by its silent
// heartbeat); the newest checkpoint damaged while the machine is down. Saves are asynchronous
// (the default) on a disk slowed to ~0.3 s a save, so that writes are in flight to be hit. At
// the end the job must be COMPLETED with the final weights of an uninterrupted run, no
// committed checkpoint lost, and the steps redone per fault within what the save interval
// allows: none for SIGTERM; two intervals for a kill (the save in flight, written while
// training went on, and the interval before it); four when the newest checkpoints were damaged
// (the newest catalogued one and a newer one committed but not yet reported are both lost).
//
// MOE_CHAOS_FAULTS (default 8, one of each kind) and MOE_CHAOS_SEED (default 1) size it;
// scripts/chaos.sh runs dozens. Prints the table of faults and steps redone.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <regex>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/checkpoint_manifest.h"
#include "gtest/gtest.h"
#include "tests/testing/damage_checkpoints.h"
#include "tests/testing/moed_process.h"
#include "tests/testing/train_test_util.h"

namespace moe::server {
namespace {

namespace fs = std::filesystem;
using testing::FinalModel;
using testing::Job;
using testing::Moed;
using testing::ReadFile;
using testing::Submit;
using testing::WorkerPids;

constexpr int kSaveSteps = 5;
constexpr char kMoedFlags[] = "--heartbeat-timeout 2 --backoff-max 0.1";
// A slow disk for the workers (common/hashing_writer.h): a save of the test job's few MB takes
// a few tenths of a second, so that background saves are in flight to be hit.
constexpr char kSlowDisk[] = "MOE_FAULT_WRITE_BYTES_PER_S=10000000";

enum class Fault {
  kKillWorker,
  kKillDuringSave,
  kTermWorker,
  kFreezeWorker,
  kKillMoed,
  kKillAll,
  kTermMoed,
  kDamageNewest
};
constexpr Fault kFaults[] = {Fault::kKillWorker,   Fault::kKillDuringSave, Fault::kTermWorker,
                             Fault::kFreezeWorker, Fault::kKillMoed,       Fault::kKillAll,
                             Fault::kTermMoed,     Fault::kDamageNewest};

const char* Name(Fault f) {
  switch (f) {
    case Fault::kKillWorker:
      return "kill -9 a worker";
    case Fault::kKillDuringSave:
      return "kill -9 a worker mid-save";
    case Fault::kTermWorker:
      return "SIGTERM a worker";
    case Fault::kFreezeWorker:
      return "freeze a worker (SIGSTOP)";
    case Fault::kKillMoed:
      return "kill -9 moed";
    case Fault::kKillAll:
      return "kill -9 moed and workers";
    case Fault::kTermMoed:
      return "SIGTERM moed";
    case Fault::kDamageNewest:
      return "damage newest checkpoint";
  }
  return "?";
}

// Steps a fault of this kind may cost.
int Allowed(Fault f) {
  switch (f) {
    case Fault::kTermWorker:
    case Fault::kTermMoed:
      return 0;
    case Fault::kDamageNewest:  // also the newest catalogued one, and one not yet reported
      return 4 * kSaveSteps;
    default:
      return 2 * kSaveSteps;
  }
}

int EnvInt(const char* name, int fallback) {
  const char* value = std::getenv(name);
  int parsed = 0;
  return value != nullptr && absl::SimpleAtoi(value, &parsed) ? parsed : fallback;
}

// The highest step an attempt's rank 0 logged ("step N/M | batch ..."), or -1.
int64_t MaxLoggedStep(const fs::path& data_dir, int64_t job, int64_t attempt) {
  static const std::regex step(" (step) (\\d+)/\\d+ \\| batch");
  const std::string log = ReadFile(data_dir / "jobs" / std::to_string(job) /
                                   absl::StrCat("attempt-", attempt) / "rank-0.log");
  int64_t max = -1;
  for (std::sregex_iterator it(log.begin(), log.end(), step), end; it != end; ++it) {
    max = std::max<int64_t>(max, std::stoll((*it)[2]));
  }
  return max;
}

int64_t StepOf(const std::string& checkpoint_dir) {
  if (checkpoint_dir.empty()) return 0;
  return std::stoll(checkpoint_dir.substr(checkpoint_dir.rfind('-') + 1));
}

class Chaos {
 public:
  Chaos(fs::path data_dir, moe::v1::JobSpec spec) : data_(std::move(data_dir)), spec_(spec) {
    moed_ = std::make_unique<Moed>(data_, kMoedFlags, kSlowDisk);
    id_ = Submit(*moed_, spec_);
  }

  int64_t id() const { return id_; }
  Moed& moed() { return *moed_; }

  // Waits until an attempt newer than `after` runs and has logged `steps` steps past where it
  // resumed (so each fault hits an attempt of its own); returns that attempt's id, or 0 if the
  // job ended first.
  int64_t AwaitProgress(int steps, int64_t after) {
    for (int i = 0; i < 2400; ++i) {
      const auto job = moed_->client().Get(id_);
      if (job.ok() && job->state() == moe::v1::JOB_STATE_COMPLETED) return 0;
      const auto attempts = moed_->client().Attempts(id_);
      if (attempts.ok() && attempts->attempts_size() > 0) {
        const moe::v1::Attempt& a = attempts->attempts(attempts->attempts_size() - 1);
        if (a.id() > after && a.ended_unix_s() == 0 &&
            MaxLoggedStep(data_, id_, a.id()) >= StepOf(a.resume_from()) + steps &&
            WorkerPids(data_, id_).size() == 2) {
          return a.id();
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "no progress\n" << moed_->log();
    return 0;
  }

  void Deliver(Fault fault, std::mt19937& rng) {
    const std::vector<pid_t> workers = WorkerPids(data_, id_);
    const pid_t worker = workers.at(rng() % workers.size());
    switch (fault) {
      case Fault::kKillWorker:
        kill(worker, SIGKILL);
        break;
      case Fault::kKillDuringSave:
        AwaitSaveInFlight();
        kill(worker, SIGKILL);
        break;
      case Fault::kTermWorker:
        kill(worker, SIGTERM);
        break;
      case Fault::kFreezeWorker:
        kill(worker, SIGSTOP);  // moed kills the attempt once the heartbeat is silent
        break;
      case Fault::kKillMoed:
        moed_->Kill(SIGKILL);  // its workers die with it (PR_SET_PDEATHSIG)
        Restart();
        break;
      case Fault::kKillAll:
        moed_->Kill(SIGKILL);
        for (pid_t pid : workers) kill(pid, SIGKILL);
        Restart();
        break;
      case Fault::kTermMoed:
        moed_->Kill(SIGTERM);
        Restart();
        break;
      case Fault::kDamageNewest: {
        moed_->Kill(SIGKILL);
        for (pid_t pid : workers) kill(pid, SIGKILL);
        AwaitWorkersGone();
        for (int64_t step :
             testing::DamageNewestCheckpoints(data_, id_, spec_.checkpoint().output_dir()).steps) {
          damaged_.insert(step);
        }
        Restart();
        break;
      }
    }
  }

  // Every checkpoint the catalogue lists now (and, later, must still have).
  void NoteCommitted() {
    const auto checkpoints = moed_->client().Checkpoints(id_);
    if (!checkpoints.ok()) return;
    for (const auto& c : checkpoints->checkpoints()) committed_.insert(c.step());
  }
  const std::set<int64_t>& committed() const { return committed_; }
  const std::set<int64_t>& damaged() const { return damaged_; }
  int saves_hit() const { return saves_hit_; }

 private:
  // Waits (up to 10 s) until a save is being written: its `.tmp` directory exists.
  void AwaitSaveInFlight() {
    for (int i = 0; i < 2000; ++i) {
      std::error_code ec;
      for (const auto& entry : fs::directory_iterator(spec_.checkpoint().output_dir(), ec)) {
        if (entry.path().extension() == ".tmp") {
          ++saves_hit_;
          return;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  void AwaitWorkersGone() {
    for (int i = 0; i < 200 && !WorkerPids(data_, id_).empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
  }
  void Restart() {
    AwaitWorkersGone();
    moed_ = std::make_unique<Moed>(data_, kMoedFlags, kSlowDisk);
  }
  const fs::path data_;
  const moe::v1::JobSpec spec_;
  std::unique_ptr<Moed> moed_;
  int64_t id_ = 0;
  std::set<int64_t> committed_, damaged_;
  int saves_hit_ = 0;  // kKillDuringSave faults that found a save in flight
};

TEST(Chaos, EveryFaultEndsInTheSameWeightsWithinTheSaveInterval) {
  const int faults = EnvInt("MOE_CHAOS_FAULTS", static_cast<int>(std::size(kFaults)));
  const int seed = EnvInt("MOE_CHAOS_SEED", 1);
  const fs::path root = worker::testing::FreshDir("chaos");
  const int steps = 12 * faults + 20;  // room for every fault's progress and redone steps
  auto spec_for = [&](const fs::path& out) {
    moe::v1::JobSpec spec = Job(out, steps);
    spec.mutable_checkpoint()->set_save_steps(kSaveSteps);
    spec.mutable_resources()->set_max_restarts(10 * faults);  // the crash budget is not tested here
    return spec;
  };
  const moe::v1::JobSpec reference = spec_for(root / "reference"),
                         chaotic = spec_for(root / "chaos");
  {
    Moed moed(root / "reference-data");
    moed.WaitForState(Submit(moed, reference), moe::v1::JOB_STATE_COMPLETED, 600);
  }

  std::mt19937 rng(seed);
  Chaos chaos(root / "data", chaotic);
  struct Delivered {
    Fault fault;
    int64_t attempt;  // the attempt it hit
  };
  std::vector<Delivered> delivered;
  int64_t last_hit = 0;
  for (int i = 0; i < faults; ++i) {
    // One of each kind first, then at random.
    const Fault fault =
        i < static_cast<int>(std::size(kFaults)) ? kFaults[i] : kFaults[rng() % std::size(kFaults)];
    const int64_t attempt =
        chaos.AwaitProgress(1 + static_cast<int>(rng() % (2 * kSaveSteps)), last_hit);
    if (attempt == 0) break;
    last_hit = attempt;
    chaos.NoteCommitted();
    chaos.Deliver(fault, rng);
    delivered.push_back({fault, attempt});
  }
  EXPECT_EQ(static_cast<int>(delivered.size()), faults) << "the job ended before every fault";
  const moe::v1::Job done =
      chaos.moed().WaitForState(chaos.id(), moe::v1::JOB_STATE_COMPLETED, 600);
  const bool identical =
      !FinalModel(reference).empty() && FinalModel(reference) == FinalModel(chaotic);
  EXPECT_TRUE(identical) << "final weights differ";

  // Steps redone per fault: what the attempt it hit had logged, less the step the next attempt
  // that trained resumed from.
  const auto attempts = chaos.moed().client().Attempts(chaos.id());
  ASSERT_TRUE(attempts.ok());
  const fs::path data = root / "data";
  std::map<Fault, std::pair<int, int64_t>> table;  // count, max redone
  int64_t total_redone = 0;
  for (const Delivered& d : delivered) {
    const int64_t reached = MaxLoggedStep(data, chaos.id(), d.attempt);
    int64_t resumed = -1;
    for (const auto& a : attempts->attempts()) {
      if (a.id() > d.attempt && MaxLoggedStep(data, chaos.id(), a.id()) >= 0) {
        resumed = StepOf(a.resume_from());
        break;
      }
    }
    ASSERT_GE(resumed, 0) << "no attempt trained after " << Name(d.fault);
    const int64_t redone = reached - resumed;
    EXPECT_GE(redone, 0);
    EXPECT_LE(redone, Allowed(d.fault)) << Name(d.fault) << " on attempt " << d.attempt
                                        << ": reached " << reached << ", resumed at " << resumed;
    auto& [count, max] = table[d.fault];
    ++count;
    max = std::max(max, redone);
    total_redone += redone;
  }
  // No committed checkpoint lost: each one seen is still usable, but those damaged on purpose
  // (set aside unless a later run committed the step again).
  const auto final_checkpoints = chaos.moed().client().Checkpoints(chaos.id());
  std::set<int64_t> usable;
  for (const auto& c : final_checkpoints->checkpoints()) {
    const bool good = common::VerifyCheckpoint(c.path()).ok();
    // One damaged on purpose may stay catalogued when no resume needed it after the damage.
    EXPECT_TRUE(good || chaos.damaged().count(c.step())) << c.path();
    if (good) usable.insert(c.step());
  }
  int lost = 0;
  for (int64_t step : chaos.committed()) {
    if (!usable.count(step) && !chaos.damaged().count(step)) ++lost;
  }
  EXPECT_EQ(lost, 0);
  const int mid_save = static_cast<int>(table[Fault::kKillDuringSave].first);
  EXPECT_EQ(chaos.saves_hit(), mid_save) << "a mid-save kill found no save in flight";

  std::cout << absl::StrFormat("[chaos] seed %d, %d faults, %d steps, save every %d\n", seed,
                               delivered.size(), steps, kSaveSteps);
  std::cout << absl::StrFormat("[chaos] %-28s %6s %12s %8s\n", "fault", "count", "max redone",
                               "allowed");
  for (const auto& [fault, row] : table) {
    std::cout << absl::StrFormat("[chaos] %-28s %6d %12d %8d\n", Name(fault), row.first, row.second,
                                 Allowed(fault));
  }
  std::cout << absl::StrFormat(
      "[chaos] attempts %d, steps redone in all %d, committed checkpoints lost %d, jobs "
      "completed %d/1, final weights byte-identical: %s\n",
      attempts->attempts_size(), total_redone, lost,
      done.state() == moe::v1::JOB_STATE_COMPLETED ? 1 : 0, identical ? "yes" : "no");
}

}  // namespace
}  // namespace moe::server
