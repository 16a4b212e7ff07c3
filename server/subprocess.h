// Runs a short command to completion and captures what it prints: how moed talks to a
// scheduler's command-line tools (sbatch, squeue, scancel).
#ifndef MOE_SERVER_SUBPROCESS_H_
#define MOE_SERVER_SUBPROCESS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace moe::server {

struct CommandResult {
  int exit_code = 0;     // -1 if killed by a signal
  std::string out, err;  // standard output and standard error
};

// Runs argv[0] (looked up on PATH) with `env` as its whole environment (NAME=VALUE) and
// /dev/null as its input; kills it after `timeout_s`. Unavailable if it cannot be started,
// DeadlineExceeded naming the command if it ran out of time. A non-zero exit is not an error.
absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         const std::vector<std::string>& env, double timeout_s);

// moed's own environment, NAME=VALUE each.
std::vector<std::string> CurrentEnvironment();

}  // namespace moe::server

#endif  // MOE_SERVER_SUBPROCESS_H_
