// moe-worker plan: what one rank of a job will hold in device memory (the memory plan the
// trainer states at start), computed from the spec without building anything: plan/job_plan.h,
// as `moectl plan` prints it (which also judges it against a device's memory).
#include <iostream>
#include <memory>
#include <string>

#include "common/spec_loader.h"
#include "common/status_macros.h"
#include "plan/job_plan.h"
#include "worker/cli/cli_util.h"
#include "worker/cli/commands.h"

namespace moe::worker {
namespace {

struct PlanFlags {
  std::string spec;
  int world_size = 0;  // 0: the spec's resources.world_size
};

absl::Status RunPlan(const PlanFlags& flags) {
  ASSIGN_OR_RETURN(moe::v1::JobSpec spec, common::LoadJobSpec(flags.spec));
  ASSIGN_OR_RETURN(const plan::JobPlan job, plan::PlanJob(std::move(spec), {flags.world_size, 0}));
  std::cout << plan::PlanText(job) << std::endl;
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
