#include "worker/cli/cli_util.h"

#include "common/exit_codes.h"
#include "common/logging.h"
#include "common/model_config.h"
#include "common/spec_loader.h"
#include "common/status_macros.h"
#include "worker/model/hf_checkpoint.h"

namespace moe::worker {

int ExitCode(const absl::Status& status) {
  if (status.ok()) return 0;
  const int code = common::ExitCodeFor(status);
  if (code == common::kExitStopped) {
    spdlog::info("{}", status.message());
  } else {
    spdlog::error("{}", status.message());
  }
  return code;
}

absl::StatusOr<JobFiles> LoadJobFiles(const std::filesystem::path& path) {
  JobFiles files;
  ASSIGN_OR_RETURN(files.spec, common::LoadJobSpec(path));
  ASSIGN_OR_RETURN(files.tokenizer, Tokenizer::FromFile(files.spec.model().tokenizer()));
  return files;
}

absl::StatusOr<MptForCausalLM> LoadSavedModel(const std::filesystem::path& dir) {
  moe::v1::MptConfig config;
  moe::v1::ModelSpec spec;
  spec.set_hf_path(dir.string());
  RETURN_IF_ERROR(common::ReadHfConfig(dir, &config, spec.mutable_moe()));
  ASSIGN_OR_RETURN(MptForCausalLM model, BuildModel(spec, /*tokenizer_size=*/0, /*seed=*/0));
  model->eval();
  return model;
}

}  // namespace moe::worker
