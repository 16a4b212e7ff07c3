// moed's API security end to end: a bearer token (refused without it or with a wrong one,
// used by the workers, never logged), TLS and mutual TLS with certificates made here by
// openssl, path roots for job specs, and no non-loopback listening without a token.
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "client/job_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/path_policy.h"
#include "tests/testing/moed_process.h"
#include "tests/testing/train_test_util.h"

namespace moe::server {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::Job;
using testing::Moed;
using ::testing::Not;
using testing::ReadFile;

constexpr char kToken[] = "s3cr3t-t0ken-for-the-test";

fs::path WriteToken(const fs::path& root) {
  const fs::path file = root / "token";
  std::ofstream(file) << kToken << "\n";
  return file;
}

// A self-signed certificate for 127.0.0.1 (CN, and the IP in subjectAltName as gRPC checks).
void MakeCertificate(const fs::path& cert, const fs::path& key) {
  const std::string command =
      absl::StrCat("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 ",
                   "-addext subjectAltName=IP:127.0.0.1 -keyout ", key.string(), " -out ",
                   cert.string(), " 2>/dev/null");
  ASSERT_EQ(std::system(command.c_str()), 0);
}

// Every log a moed run left under `root`: moed's and its workers'.
std::string AllLogs(const fs::path& root) {
  std::string logs;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.path().extension() == ".log") logs += ReadFile(entry.path());
  }
  return logs;
}

void RunsAJob(Moed& moed, const fs::path& out) {
  auto job = moed.client().Submit(Job(out, 5));
  ASSERT_TRUE(job.ok()) << job.status();
  moed.WaitForState(job->id(), moe::v1::JOB_STATE_COMPLETED);
}

TEST(Security, ABearerTokenIsRequiredUsedByTheWorkersAndNeverLogged) {
  const fs::path root = worker::testing::FreshDir("security_token");
  const fs::path token = WriteToken(root);
  common::ClientSecurity right;
  right.token = kToken;
  Moed moed(root / "data", "--token-file " + token.string(), "", right);

  const auto bare = client::JobClient(moed.address()).List();
  EXPECT_EQ(bare.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(bare.status().message()), HasSubstr("needs a bearer token"));
  common::ClientSecurity wrong;
  wrong.token = "guess";
  const auto guessed = client::JobClient(moed.address(), wrong).List();
  EXPECT_EQ(guessed.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(guessed.status().message()), HasSubstr("wrong bearer token"));
  // Nothing was submitted by the refused calls; with the token, a job runs (its workers
  // report with the token moed gave them).
  const auto submitted = client::JobClient(moed.address(), wrong).Submit(Job(root / "no", 5));
  EXPECT_EQ(submitted.status().code(), absl::StatusCode::kUnauthenticated);
  ASSERT_TRUE(moed.client().List().ok());
  EXPECT_EQ(moed.client().List()->jobs_size(), 0);
  RunsAJob(moed, root / "out");
  // moectl reads the token from a file.
  const std::string out = (root / "moectl.out").string();
  EXPECT_EQ(WEXITSTATUS(
                std::system(absl::StrCat(MOECTL_BIN, " --server ", moed.address(), " --token-file ",
                                         token.string(), " list > ", out, " 2>&1")
                                .c_str())),
            0)
      << ReadFile(out);
  EXPECT_THAT(ReadFile(out), HasSubstr("COMPLETED"));
  EXPECT_THAT(AllLogs(root), Not(HasSubstr(kToken)));
}

TEST(Security, TlsServesOnlyClientsThatTrustItsCertificate) {
  const fs::path root = worker::testing::FreshDir("security_tls");
  MakeCertificate(root / "cert.pem", root / "key.pem");
  MakeCertificate(root / "other.pem", root / "other-key.pem");
  const auto trusting =
      common::LoadClientSecurity(WriteToken(root).string(), (root / "cert.pem").string());
  ASSERT_TRUE(trusting.ok()) << trusting.status();
  Moed moed(root / "data",
            absl::StrCat("--tls-cert ", (root / "cert.pem").string(), " --tls-key ",
                         (root / "key.pem").string(), " --token-file ", (root / "token").string()),
            "", *trusting);
  ASSERT_TRUE(moed.client().List().ok()) << moed.client().List().status();
  common::ClientSecurity plain;
  plain.token = kToken;  // a token, but no TLS
  EXPECT_FALSE(client::JobClient(moed.address(), plain).List().ok());
  common::ClientSecurity stranger = *trusting;
  stranger.tls_ca = ReadFile(root / "other.pem");  // trusts another certificate
  EXPECT_EQ(client::JobClient(moed.address(), stranger).List().status().code(),
            absl::StatusCode::kUnavailable);
  RunsAJob(moed, root / "out");  // the workers reach moed over TLS too
}

TEST(Security, MutualTlsRefusesClientsWithoutACertificate) {
  const fs::path root = worker::testing::FreshDir("security_mtls");
  MakeCertificate(root / "cert.pem", root / "key.pem");
  const std::string cert = (root / "cert.pem").string(), key = (root / "key.pem").string();
  auto with_cert = common::LoadClientSecurity("", cert);
  ASSERT_TRUE(with_cert.ok());
  with_cert->tls_cert = ReadFile(cert);  // the client CA signed it (it is its own CA)
  with_cert->tls_key = ReadFile(key);
  Moed moed(root / "data",
            absl::StrCat("--tls-cert ", cert, " --tls-key ", key, " --tls-client-ca ", cert), "",
            *with_cert);
  ASSERT_TRUE(moed.client().List().ok()) << moed.client().List().status();
  common::ClientSecurity without = *with_cert;
  without.tls_cert.clear();
  without.tls_key.clear();
  EXPECT_FALSE(client::JobClient(moed.address(), without).List().ok());
  RunsAJob(moed, root / "out");
}

TEST(Security, SpecsCannotNamePathsOutsideTheAllowedRoots) {
  const fs::path root = worker::testing::FreshDir("security_roots");
  fs::create_directories(root / "jobs");
  fs::create_directories(root / "elsewhere");
  fs::create_directory_symlink(root / "elsewhere", root / "jobs" / "link");
  Moed moed(root / "data", absl::StrCat("--allowed-root ", MOE_SOURCE_DIR, " --allowed-root ",
                                        (root / "jobs").string()));
  for (const fs::path& out : {root / "jobs" / ".." / "escape", fs::path("/etc/moe-out"),
                              root / "jobs" / "link" / "out", root / "jobs2"}) {
    const auto refused = moed.client().Submit(Job(out, 5));
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied) << out;
    EXPECT_THAT(std::string(refused.status().message()),
                HasSubstr("checkpoint.output_dir (" + out.string() + ")"));
    EXPECT_THAT(std::string(refused.status().message()), HasSubstr("--allowed-root"));
  }
  EXPECT_FALSE(fs::exists("/etc/moe-out"));
  EXPECT_EQ(moed.client().List()->jobs_size(), 0);
  moe::v1::JobSpec reads_outside = Job(root / "jobs" / "ok", 5);
  reads_outside.mutable_data()->set_train_file("/etc/passwd");
  EXPECT_THAT(std::string(moed.client().Submit(reads_outside).status().message()),
              HasSubstr("data.train_file (/etc/passwd)"));
  RunsAJob(moed, root / "jobs" / "ok");
}

TEST(Security, ANonLoopbackAddressNeedsAToken) {
  const fs::path root = worker::testing::FreshDir("security_listen");
  const std::string out = (root / "moed.out").string();
  const int status =
      std::system(absl::StrCat(MOED_BIN, " --data-dir ", (root / "data").string(),
                               " --listen 0.0.0.0:0 --metrics-listen '' > ", out, " 2>&1")
                      .c_str());
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_THAT(ReadFile(out), HasSubstr("reachable from other machines"));
  EXPECT_THAT(ReadFile(out), HasSubstr("--token-file"));
}

TEST(PathPolicy, ComparesWholeComponentsAfterResolvingLinksAndDots) {
  const fs::path root = worker::testing::FreshDir("path_policy");
  fs::create_directories(root / "a" / "b");
  fs::create_directory_symlink(root, root / "a" / "up");
  const PathPolicy policy({root / "a"});
  EXPECT_TRUE(policy.Allows(root / "a"));
  EXPECT_TRUE(policy.Allows(root / "a" / "b" / "not-yet" / "file"));
  EXPECT_FALSE(policy.Allows(root / "ab"));
  EXPECT_FALSE(policy.Allows(root / "a" / ".." / "b"));
  EXPECT_FALSE(policy.Allows(root / "a" / "up" / "x"));  // a link out of the root
  EXPECT_FALSE(policy.Allows("relative/elsewhere"));
  EXPECT_TRUE(PathPolicy({}).Allows("/anything"));
}

}  // namespace
}  // namespace moe::server
