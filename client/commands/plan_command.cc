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
  std::string host_memory;
  std::string model_dir;
};

// --gpu-memory and --host-memory: a size, or InvalidArgument naming the flag.
absl::StatusOr<int64_t> SizeFlag(const std::string& flag, const std::string& value) {
  if (value.empty()) return 0;
  absl::StatusOr<int64_t> bytes = plan::ParseBytes(value);
  if (!bytes.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", bytes.status().message()));
  }
  return bytes;
}

int RunPlan(const PlanFlags& flags, const CommandContext& context) {
  using plan::JobPlan;
  plan::PlanOptions options;
  options.ranks = flags.gpus;
  const absl::StatusOr<int64_t> gpu = SizeFlag("--gpu-memory", flags.gpu_memory);
  if (!gpu.ok()) return ExitFor(gpu.status());
  const absl::StatusOr<int64_t> host = SizeFlag("--host-memory", flags.host_memory);
  if (!host.ok()) return ExitFor(host.status());
  options.device_bytes = *gpu;
  options.host_bytes = *host;
  options.model_dir = flags.model_dir;
  // The data and weights may be on the machines the job will run on; the plan needs only the
  // model's config (and, for an inline config without vocab_size, the tokenizer).
  absl::StatusOr<moe::v1::JobSpec> spec =
      common::LoadJobSpec(flags.spec, nullptr, common::SpecFiles::kMayBeElsewhere);
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
      "the plan the trainer states at start) and in host memory (an offloaded optimizer, "
      "asynchronous checkpoints' copies), per node too; the verdict against --gpu-memory and "
      "--host-memory (a CPU job: against --host-memory); when it does not fit, the single "
      "changes that would, cheapest first (activation checkpointing, a smaller micro-batch, "
      "optimizer offload, more GPUs, MoE on fewer layers), each planned; and the checkpoint's "
      "size on disk. Runs here; moed is not needed. Exit code 1 when the job does not fit.");
  cmd->add_option("spec", flags->spec, "Job spec (YAML)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--gpus", flags->gpus, "Ranks (default: the spec's resources.world_size)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--gpu-memory", flags->gpu_memory,
                  "Memory of one GPU, e.g. 80GiB (H100), 141GB (H200); default: no verdict on it");
  cmd->add_option("--host-memory", flags->host_memory,
                  "Memory of one node, e.g. 1TiB; default: no verdict on it");
  cmd->add_option("--model-dir", flags->model_dir,
                  "A directory whose config.json stands for model.hf_path's, to plan before the "
                  "weights are downloaded (e.g. configs/models/mpt-7b)")
      ->check(CLI::ExistingDirectory);
  cmd->callback([flags, &context] { context.exit_code = RunPlan(*flags, context); });
}

}  // namespace moe::client
