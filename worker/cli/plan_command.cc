// moe-worker plan: what one rank of a job will hold in device memory (the memory plan the
// trainer states at start), computed from the spec without building anything.
#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/memory_plan.h"
#include "common/model_config.h"
#include "common/spec_loader.h"
#include "common/status_macros.h"
#include "worker/cli/cli_util.h"
#include "worker/cli/commands.h"
#include "worker/data/tokenizer.h"
#include "worker/model/hf_checkpoint.h"

namespace moe::worker {
namespace {

struct PlanFlags {
  std::string spec;
  int world_size = 0;  // 0: the spec's resources.world_size
};

absl::Status RunPlan(const PlanFlags& flags) {
  ASSIGN_OR_RETURN(moe::v1::JobSpec spec, common::LoadJobSpec(flags.spec));
  moe::v1::ModelSpec& model = *spec.mutable_model();
  if (model.has_config()) {
    int32_t vocab = 0;
    if (model.config().vocab_size() == 0) {
      ASSIGN_OR_RETURN(auto tokenizer, Tokenizer::FromFile(model.tokenizer()));
      vocab = tokenizer->size();
    }
    RETURN_IF_ERROR(common::ResolveVocabSize(vocab, model.mutable_config()));
  } else {
    const std::string dir = model.hf_path();  // (setting the config clears the oneof's path)
    moe::v1::MptConfig config;
    moe::v1::MoeSpec stored;
    RETURN_IF_ERROR(ReadHfConfig(dir, &config, &stored));
    *model.mutable_config() = config;
  }
  const int world =
      flags.world_size > 0 ? flags.world_size : static_cast<int>(spec.resources().world_size());
  const common::ParameterCount count = common::CountParameters(model.config(), model.moe());
  std::cout << absl::StrCat(
      spec.name(), ": ", count.total / 1e9, " B parameters (", count.active_per_token / 1e9,
      " B active per token), ", model.precision() == moe::v1::PRECISION_BF16 ? "bf16" : "fp32",
      "; ", world, " rank(s), ZeRO stage ", spec.zero().stage(), "; micro-batch ",
      spec.training().micro_batch_size(), " x ", spec.data().max_seq_len(), " tokens",
      model.activation_checkpointing() ? ", activation checkpointing" : "",
      "\nmemory plan per rank:\n", common::PlanMemoryFromSpec(spec, world).Table(), "\n");
  return absl::OkStatus();
}

}  // namespace

void AddPlanCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<PlanFlags>();
  CLI::App* cmd = app.add_subcommand(
      "plan",
      "Print what one rank of a job holds in device memory (parameters, fp32 gradients and "
      "optimizer state of its ZeRO partition, gradient buckets, one micro-batch's "
      "activations), from the spec alone: the plan the trainer states at start.");
  cmd->add_option("--spec", flags->spec, "Job spec (YAML)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--world-size", flags->world_size,
                  "Ranks (default: the spec's resources.world_size)")
      ->check(CLI::PositiveNumber);
  cmd->callback([flags, exit_code] { *exit_code = ExitCode(RunPlan(*flags)); });
}

}  // namespace moe::worker
