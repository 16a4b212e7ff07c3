// moectl status: a job, its attempts and its newest checkpoint.
#include <iostream>
#include <memory>

#include "client/commands/commands.h"

namespace moe::client {
namespace {

int RunStatus(int64_t id, CommandContext& context) {
  const auto job = context.Client().Get(id);
  const auto attempts = context.Client().Attempts(id);
  const auto checkpoints = context.Client().Checkpoints(id);
  for (const absl::Status& s : {job.status(), attempts.status(), checkpoints.status()}) {
    if (!s.ok()) return ExitFor(s);
  }
  std::cout << (context.flags.json() ? ToJson(*job) : JobDetails(*job, *attempts, *checkpoints));
  std::cout << std::flush;
  return 0;
}

}  // namespace

void AddStatusCommand(CLI::App& app, CommandContext& context) {
  auto id = std::make_shared<int64_t>(0);
  CLI::App* cmd = app.add_subcommand("status", "A job, its attempts and its newest checkpoint");
  cmd->add_option("job", *id, "Job id")->required()->check(WholeNumber<int64_t>(1));
  cmd->callback([id, &context] { context.exit_code = RunStatus(*id, context); });
}

}  // namespace moe::client
