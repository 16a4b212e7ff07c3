// moectl submit: validates a job spec here, queues it on moed, and optionally follows it.
#include <iostream>
#include <memory>
#include <string>

#include "client/commands/commands.h"
#include "common/spec_loader.h"

namespace moe::client {
namespace {

struct SubmitFlags {
  std::string spec_path;
  bool watch = false;
};

int RunSubmit(const SubmitFlags& submit, CommandContext& context) {
  bool output_dir_defaulted = false;
  const auto spec = common::LoadJobSpec(submit.spec_path, &output_dir_defaulted);
  if (!spec.ok()) return ExitFor(absl::InvalidArgumentError(spec.status().message()));
  // Without an output_dir the job gets runs/<name>/<job id>: one spec submitted twice is two
  // jobs with two directories.
  const auto job = context.Client().Submit(*spec, output_dir_defaulted);
  if (!job.ok()) return ExitFor(job.status());
  std::cout << (context.flags.json()
                    ? ToJson(*job)
                    : absl::StrCat("submitted job ", job->id(), " (", job->name(),
                                   "); checkpoints in ", job->spec().checkpoint().output_dir()))
            << std::endl;
  return submit.watch ? Watch(context.Client(), job->id(), context.flags) : 0;
}

}  // namespace

void AddSubmitCommand(CLI::App& app, CommandContext& context) {
  auto flags = std::make_shared<SubmitFlags>();
  CLI::App* cmd = app.add_subcommand("submit", "Validate a job spec here and queue it on moed");
  cmd->add_option("spec", flags->spec_path, "Job spec (YAML)")->required();
  cmd->add_flag("--watch,-w", flags->watch, "Then follow it to its end (exit code as watch)");
  cmd->callback([flags, &context] { context.exit_code = RunSubmit(*flags, context); });
}

}  // namespace moe::client
