// Worker tokens: bound to job, attempt and rank, and what the Slurm wrapper derives with
// sha256sum from the same secret.
#include "common/worker_token.h"

#include <cstdio>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace moe::common {
namespace {

// The Slurm task script's formula, run by the shell (printf | sha256sum).
std::string ShellToken(const std::string& secret, int64_t job, int64_t attempt, int rank) {
  const std::string command =
      absl::StrCat("printf 'moetrain-worker:%s:%s:%s:%s' ", job, " ", attempt, " ", rank, " ",
                   secret, " | sha256sum | cut -c1-64");
  FILE* pipe = popen(command.c_str(), "r");
  char line[128] = {};
  EXPECT_NE(fgets(line, sizeof(line), pipe), nullptr);
  pclose(pipe);
  std::string token(line);
  while (!token.empty() && token.back() == '\n') token.pop_back();
  return token;
}

TEST(WorkerToken, SecretsAreFreshAndLong) {
  std::set<std::string> secrets;
  for (int i = 0; i < 100; ++i) secrets.insert(NewWorkerSecret());
  EXPECT_EQ(secrets.size(), 100u);
  EXPECT_EQ(secrets.begin()->size(), 64u);
  EXPECT_EQ(secrets.begin()->find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(WorkerToken, EachJobAttemptAndRankHasItsOwn) {
  const std::string secret = NewWorkerSecret();
  std::set<std::string> tokens;
  for (int64_t job : {1, 2}) {
    for (int64_t attempt : {1, 12}) {
      for (int rank : {0, 1, 2}) tokens.insert(WorkerToken(secret, job, attempt, rank));
    }
  }
  EXPECT_EQ(tokens.size(), 12u);
  EXPECT_NE(WorkerToken(secret, 1, 1, 0), WorkerToken(NewWorkerSecret(), 1, 1, 0));
  EXPECT_EQ(WorkerToken(secret, 3, 4, 5), WorkerToken(secret, 3, 4, 5));
}

TEST(WorkerToken, IsWhatTheSlurmWrapperDerives) {
  const std::string secret = NewWorkerSecret();
  EXPECT_EQ(WorkerToken(secret, 7, 42, 3), ShellToken(secret, 7, 42, 3));
  EXPECT_EQ(WorkerToken(secret, 123456789, 1, 0), ShellToken(secret, 123456789, 1, 0));
}

TEST(WorkerToken, ComparesWholeTokens) {
  EXPECT_TRUE(TokensEqual("abc", "abc"));
  EXPECT_FALSE(TokensEqual("abc", "abd"));
  EXPECT_FALSE(TokensEqual("abc", "abcd"));
  EXPECT_FALSE(TokensEqual("", "a"));
}

}  // namespace
}  // namespace moe::common
