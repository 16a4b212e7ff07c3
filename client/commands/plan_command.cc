// moectl plan: a job's memory plan per rank against its devices' memory, here, without moed.
#include <iostream>
#include <memory>
#include <string>

#include "client/commands/commands.h"
#include "client/moectl.h"
#include "common/spec_loader.h"
#include "plan/job_plan.h"

namespace moe::client {
namespace {

struct PlanFlags {
  std::string spec;
  int gpus = 0;
  std::string gpu_memory;
};

int RunPlan(const PlanFlags& flags, const CommandContext& context) {
  using plan::JobPlan;
  plan::PlanOptions options;
  options.ranks = flags.gpus;
  if (!flags.gpu_memory.empty()) {
    const absl::StatusOr<int64_t> bytes = plan::ParseBytes(flags.gpu_memory);
    if (!bytes.ok()) {
      return ExitFor(
          absl::InvalidArgumentError(absl::StrCat("--gpu-memory: ", bytes.status().message())));
    }
    options.device_bytes = *bytes;
  }
  absl::StatusOr<moe::v1::JobSpec> spec = common::LoadJobSpec(flags.spec);
  if (!spec.ok()) return ExitFor(spec.status());
  const absl::StatusOr<JobPlan> job = plan::PlanJob(*std::move(spec), options);
  if (!job.ok()) return ExitFor(job.status());
  std::cout << (context.flags.json() ? plan::PlanJson(*job).dump(2) : plan::PlanText(*job))
            << std::endl;
  return job->verdict == JobPlan::Verdict::kDoesNotFit ? kExitRefused : 0;
}

}  // namespace

void AddPlanCommand(CLI::App& app, CommandContext& context) {
  auto flags = std::make_shared<PlanFlags>();
  CLI::App* cmd = app.add_subcommand(
      "plan",
      "What one rank of a job holds in device memory (parameters, fp32 gradients and optimizer "
      "state of its ZeRO partition, gradient buckets in flight, one micro-batch's activations: "
      "the plan the trainer states at start), the verdict against --gpu-memory, the single "
      "changes that would fit when it does not (more GPUs, activation checkpointing, a smaller "
      "micro-batch, MoE on fewer layers), and the checkpoint's size. Runs here; moed is not "
      "needed. Exit code 1 when the job does not fit.");
  cmd->add_option("spec", flags->spec, "Job spec (YAML)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--gpus", flags->gpus, "Ranks (default: the spec's resources.world_size)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--gpu-memory", flags->gpu_memory,
                  "Memory of one device, e.g. 80GiB (H100), 141GB (H200); default: no verdict");
  cmd->callback([flags, &context] { context.exit_code = RunPlan(*flags, context); });
}

}  // namespace moe::client
