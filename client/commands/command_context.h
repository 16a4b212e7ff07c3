// What every moectl command shares: the global flags, moed's client (made at first use), the
// exit code the command leaves, and the helpers that turn results into output and exit codes.
#ifndef MOE_CLIENT_COMMANDS_COMMAND_CONTEXT_H_
#define MOE_CLIENT_COMMANDS_COMMAND_CONTEXT_H_

#include <cstdint>
#include <functional>
#include <iostream>
#include <limits>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/format.h"
#include "client/job_client.h"

namespace moe::client {

// The flags before the subcommand.
struct GlobalFlags {
  std::string server = "127.0.0.1:50051";
  std::string token_file, tls_ca;
  std::string output = "text";
  bool json() const { return output == "json"; }
};

// One per run of moectl; the commands' callbacks hold a reference, so it must outlive the
// parse. Not thread-safe.
class CommandContext {
 public:
  GlobalFlags flags;
  int exit_code = 0;  // set by the command that ran

  // moed's client, connected to flags.server with the token and CA the flags name, made at
  // the first call. Throws CLI::RuntimeError (exit code kExitUsage, message "moectl: ...")
  // when those files cannot be loaded: RunMoectl prints it as CLI11 prints its own errors.
  JobClient& Client();

 private:
  std::unique_ptr<JobClient> client_;
};

// 0 for OK; otherwise prints "moectl: <message>" to stderr and returns kExitUnreachable for
// Unavailable, kExitUsage for InvalidArgument, kExitRefused for anything else.
int ExitFor(const absl::Status& status);

// A whole number from `low` to the largest `T`, checked on the text: an out-of-range value is
// refused, never clamped.
template <typename T>
CLI::Validator WholeNumber(T low) {
  return CLI::Validator(
      [low](std::string& text) -> std::string {
        T value = 0;
        if (absl::SimpleAtoi(text, &value) && value >= low) return "";
        return absl::StrCat("'", text, "' is not a whole number from ", low, " to ",
                            std::numeric_limits<T>::max());
      },
      "", "");
}

// Prints a call's result (as JSON with -o json, else as `text` makes it) and returns 0, or
// returns ExitFor its error.
template <typename T>
int Print(const absl::StatusOr<T>& result, const GlobalFlags& flags,
          const std::function<std::string(const T&)>& text) {
  if (!result.ok()) return ExitFor(result.status());
  std::cout << (flags.json() ? ToJson(*result) : text(*result)) << std::endl;
  return 0;
}

// Follows job `id` to its end, printing a progress line per report (redrawn in place on a
// terminal) and each checkpoint, or each report as JSON with -o json. 0 when it COMPLETED,
// kExitJobFailed when it ended otherwise, ExitFor the stream's error when that broke.
int Watch(JobClient& client, int64_t id, const GlobalFlags& flags);

}  // namespace moe::client

#endif  // MOE_CLIENT_COMMANDS_COMMAND_CONTEXT_H_
