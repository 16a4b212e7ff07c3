#include "worker/cli/cli_util.h"

#include "common/logging.h"
#include "common/spec_loader.h"
#include "common/status_macros.h"

namespace moe::worker {

int ExitCode(const absl::Status& status) {
  if (status.ok()) return 0;
  spdlog::error("{}", status.message());
  return 1;
}

absl::StatusOr<JobFiles> LoadJobFiles(const std::filesystem::path& path) {
  JobFiles files;
  ASSIGN_OR_RETURN(files.spec, common::LoadJobSpec(path));
  ASSIGN_OR_RETURN(files.tokenizer, Tokenizer::FromFile(files.spec.model().tokenizer()));
  return files;
}

}  // namespace moe::worker
