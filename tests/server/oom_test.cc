// Out-of-memory attempts: the count of the kernel's OOM kills in a cgroup (parsing, on cgroup
// files laid out here), and end to end a real moed in a memory cgroup too small for its
// worker, so the kernel's OOM killer kills it: classified as out of memory, retried once,
// and not a second time from the same start.
#include <unistd.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/oom_kills.h"
#include "tests/testing/moed_process.h"
#include "tests/testing/train_test_util.h"

namespace moe::server {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::Job;
using testing::Moed;

TEST(OomKills, ReadsCgroupV2AndV1AndLooksThroughANamespacedRoot) {
  const fs::path root = worker::testing::FreshDir("oom_kills");
  // v2: 0::/user.slice/moed.service
  fs::create_directories(root / "v2" / "user.slice" / "moed.service");
  std::ofstream(root / "v2" / "user.slice" / "moed.service" / "memory.events")
      << "low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\n";
  std::ofstream(root / "v2.cgroup") << "0::/user.slice/moed.service\n";
  EXPECT_EQ(OomKills(root / "v2", root / "v2.cgroup"), 2);
  // v1 in a cgroup namespace: /proc/self/cgroup names the host's path, the mount shows the
  // process's own cgroup as the root.
  fs::create_directories(root / "v1" / "memory" / "job");
  std::ofstream(root / "v1" / "memory" / "job" / "memory.oom_control")
      << "oom_kill_disable 0\nunder_oom 0\noom_kill 7\n";
  std::ofstream(root / "v1.cgroup") << "5:cpu,cpuacct:/\n4:memory:/host/abc/job\n0::/\n";
  EXPECT_EQ(OomKills(root / "v1", root / "v1.cgroup"), 7);
  EXPECT_EQ(OomKills(root / "none", root / "v1.cgroup"), std::nullopt);
}

// A child memory cgroup (v1) limited to `bytes`, removed when destroyed; empty path when this
// machine does not let us make one.
class MemoryCgroup {
 public:
  explicit MemoryCgroup(int64_t bytes) {
    const fs::path dir = absl::StrCat("/sys/fs/cgroup/memory/moe_oom_test_", getpid());
    std::error_code ec;
    if (!fs::create_directory(dir, ec)) return;
    std::ofstream(dir / "memory.limit_in_bytes") << bytes;
    if (fs::exists(dir / "memory.memsw.limit_in_bytes")) {
      std::ofstream(dir / "memory.memsw.limit_in_bytes") << bytes;  // no swapping out of it
    }
    dir_ = dir;
  }
  ~MemoryCgroup() {
    if (!dir_.empty()) rmdir(dir_.c_str());
  }
  const fs::path& dir() const { return dir_; }

 private:
  fs::path dir_;
};

TEST(Moed, AWorkerKilledForMemoryIsRetriedOnceNotTwiceFromTheSameStart) {
  const MemoryCgroup cgroup(64 << 20);  // moed fits (~25 MB); a worker with LibTorch does not
  if (cgroup.dir().empty()) GTEST_SKIP() << "cannot make a memory cgroup (cgroup v1, root)";
  const fs::path root = worker::testing::FreshDir("moed_oom");
  int64_t id = 0;
  {
    // moed joins the cgroup before it starts, so its workers are born in it.
    Moed moed(root / "data", "--backoff-max 0.1",
              absl::StrCat("echo $$ > ", (cgroup.dir() / "cgroup.procs").string(), ";"));
    moe::v1::JobSpec spec = Job(root / "out", 10);
    spec.mutable_resources()->set_world_size(1);
    id = testing::Submit(moed, spec);
    const moe::v1::Job failed = moed.WaitForState(id, moe::v1::JOB_STATE_FAILED, 120);
    EXPECT_THAT(failed.failure(), HasSubstr("out of memory twice from the same start"));
    EXPECT_EQ(failed.restarts(), 1);
    const auto attempts = moed.client().Attempts(id);
    ASSERT_EQ(attempts->attempts_size(), 2);
    for (const auto& a : attempts->attempts()) {
      EXPECT_EQ(a.cause(), moe::v1::ATTEMPT_CAUSE_OOM_KILLED);
      EXPECT_EQ(a.signal(), SIGKILL);
    }
    moed.Kill(SIGKILL);
  }
}

}  // namespace
}  // namespace moe::server
