// A real moed process for tests (loopback, any free ports, a given data directory), and the
// small 2-worker training job the service tests submit.
#ifndef MOE_TESTS_TESTING_MOED_PROCESS_H_
#define MOE_TESTS_TESTING_MOED_PROCESS_H_

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/job_client.h"
#include "gtest/gtest.h"
#include "tests/testing/train_test_util.h"

extern char** environ;

namespace moe::server::testing {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

inline std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A moed process; killed (SIGKILL) when destroyed if still running.
class Moed {
 public:
  // `env`: NAME=VALUE ... for moed (and so its workers); `security`: what client() sends.
  // `flags` may name a --listen address (default: any free loopback port) and --slots
  // (default 2).
  explicit Moed(const fs::path& data_dir, const std::string& flags = "",
                const std::string& env = "", const common::ClientSecurity& security = {}) {
    log_ = data_dir.string() + absl::StrCat(".moed", ++starts_, ".log");
    const std::string line = absl::StrCat(
        env, env.empty() ? "" : " ", "exec ", MOED_BIN, " --data-dir ", data_dir.string(),
        flags.find("--listen ") == std::string::npos ? " --listen 127.0.0.1:0" : "",
        " --metrics-listen 127.0.0.1:0 ",
        flags.find("--slots ") == std::string::npos ? "--slots 2 " : "", flags, " > ", log_,
        " 2>&1");
    const char* argv[] = {"/bin/sh", "-c", line.c_str(), nullptr};
    EXPECT_EQ(posix_spawn(&pid_, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ),
              0);
    const std::regex listening("moed listening on port (\\d+), metrics on port (\\d+)");
    for (int i = 0; i < 200 && port_ == 0; ++i) {
      std::smatch match;
      const std::string text = ReadFile(log_);
      if (std::regex_search(text, match, listening)) {
        port_ = std::stoi(match[1]);
        metrics_port_ = std::stoi(match[2]);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_NE(port_, 0) << ReadFile(log_);
    client_ = std::make_unique<client::JobClient>(address(), security);
  }
  ~Moed() {
    if (pid_ > 0) Kill(SIGKILL);
  }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  int metrics_port() const { return metrics_port_; }
  client::JobClient& client() { return *client_; }
  std::string log() const { return ReadFile(log_); }
  pid_t pid() const { return pid_; }
  // Sends `signal` and waits for moed to exit; returns its wait status.
  int Kill(int signal) {
    kill(pid_, signal);
    return Wait();
  }
  // Waits for moed to exit by itself; returns its wait status.
  int Wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

  // Waits until `done(job)` or the timeout; returns the last job seen.
  moe::v1::Job WaitFor(int64_t id, const std::function<bool(const moe::v1::Job&)>& done,
                       int seconds = 120) {
    moe::v1::Job job;
    for (const auto deadline = Clock::now() + std::chrono::seconds(seconds);
         Clock::now() < deadline;) {
      auto got = client_->Get(id);
      if (got.ok()) {
        job = *got;
        if (done(job)) return job;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "job " << id << " timed out in " << moe::v1::JobState_Name(job.state()) << "\n"
                  << log();
    return job;
  }
  moe::v1::Job WaitForState(int64_t id, moe::v1::JobState state, int seconds = 120) {
    return WaitFor(
        id, [state](const moe::v1::Job& j) { return j.state() == state; }, seconds);
  }

 private:
  static inline int starts_ = 0;
  pid_t pid_ = -1;
  int port_ = 0, metrics_port_ = 0;
  std::string log_;
  std::unique_ptr<client::JobClient> client_;
};

// The small job of the training tests on 2 workers: d_model 32, 100 samples, `steps` steps,
// a checkpoint every 5.
inline moe::v1::JobSpec Job(const fs::path& output, int steps) {
  moe::v1::JobSpec spec = moe::worker::testing::SmallJob(output);
  spec.set_name("tiny");
  spec.mutable_resources()->set_world_size(2);
  spec.mutable_resources()->set_threads_per_worker(1);
  spec.mutable_training()->set_epochs(100);
  spec.mutable_training()->set_max_steps(steps);
  spec.mutable_training()->set_grad_accumulation(1);
  spec.mutable_checkpoint()->set_save_steps(5);
  spec.mutable_checkpoint()->set_save_at_epoch_end(false);
  spec.mutable_logging()->set_logging_steps(1);
  return spec;
}

// The bytes of the final model of a job made by Job().
inline std::string FinalModel(const moe::v1::JobSpec& spec) {
  return ReadFile(fs::path(spec.checkpoint().output_dir()) /
                  absl::StrCat("checkpoint-step-", spec.training().max_steps()) /
                  "model.safetensors");
}

// The pids of job `id`'s workers (their command line names the job's spec).
inline std::vector<pid_t> WorkerPids(const fs::path& data_dir, int64_t id) {
  const std::string spec = (data_dir / "jobs" / std::to_string(id) / "job.yaml").string();
  std::vector<pid_t> pids;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = ReadFile(entry.path() / "cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.find("moe-worker train --spec " + spec) != std::string::npos) {
      pids.push_back(std::stoi(name));
    }
  }
  return pids;
}

inline int64_t Submit(Moed& moed, const moe::v1::JobSpec& spec) {
  auto job = moed.client().Submit(spec);
  EXPECT_TRUE(job.ok()) << job.status();
  return job.ok() ? job->id() : 0;
}

}  // namespace moe::server::testing

#endif  // MOE_TESTS_TESTING_MOED_PROCESS_H_
