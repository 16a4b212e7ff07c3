// What the moe-worker subcommands share: turning a status into an exit code, and loading a
// job's spec with its tokenizer.
#ifndef MOE_WORKER_CLI_CLI_UTIL_H_
#define MOE_WORKER_CLI_CLI_UTIL_H_

#include <filesystem>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "moe/v1/job.pb.h"
#include "worker/data/tokenizer.h"
#include "worker/model/mpt_model.h"

namespace moe::worker {

// 0 for OK; otherwise logs the message as an error and returns common::ExitCodeFor(status)
// (2 for what only the user can fix, 1 otherwise).
int ExitCode(const absl::Status& status);

struct JobFiles {
  moe::v1::JobSpec spec;  // loaded, defaulted and validated
  std::unique_ptr<Tokenizer> tokenizer;
};

// Loads the job spec at `path` and the tokenizer it names.
absl::StatusOr<JobFiles> LoadJobFiles(const std::filesystem::path& path);

// Loads the model saved in `dir` (a Hugging Face MPT directory, dense or MoE) with its own
// MoE layout, in eval mode.
absl::StatusOr<MptForCausalLM> LoadSavedModel(const std::filesystem::path& dir);

}  // namespace moe::worker

#endif  // MOE_WORKER_CLI_CLI_UTIL_H_
