// The stand-in cloud metadata service (fake_metadata_server.py) as a child process on a
// loopback port, with its controls.
#ifndef MOE_TESTS_TESTING_FAKE_METADATA_SERVER_H_
#define MOE_TESTS_TESTING_FAKE_METADATA_SERVER_H_

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/http_client.h"

extern char** environ;

namespace moe::server::testing {

class FakeMetadataServer {
 public:
  FakeMetadataServer() {
    int out[2];
    EXPECT_EQ(pipe(out), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    const std::string script = MOE_SOURCE_DIR "/tests/testing/fake_metadata_server.py";
    const char* argv[] = {MOE_PYTHON, script.c_str(), nullptr};
    EXPECT_EQ(posix_spawn(&pid_, argv[0], &actions, nullptr, const_cast<char**>(argv), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    FILE* lines = fdopen(out[0], "r");
    char line[64] = {};
    EXPECT_NE(fgets(line, sizeof line, lines), nullptr);
    fclose(lines);
    EXPECT_EQ(sscanf(line, "port %d", &port_), 1) << line;
  }
  ~FakeMetadataServer() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }

  std::string url() const { return absl::StrCat("http://127.0.0.1:", port_); }
  // The machine is going away from now on.
  void SetNotice() { Control("POST", "/control/notice"); }
  // Every IMDSv2 token issued so far is refused from now on.
  void ExpireTokens() { Control("POST", "/control/expire-tokens"); }
  // "METHOD PATH STATUS" per request served, one a line.
  std::string Log() { return Control("GET", "/control/log"); }

 private:
  std::string Control(const std::string& method, const std::string& path) {
    const auto r = HttpRequest(method, url() + path);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->body : "";
  }

  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace moe::server::testing

#endif  // MOE_TESTS_TESTING_FAKE_METADATA_SERVER_H_
