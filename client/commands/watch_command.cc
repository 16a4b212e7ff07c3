// moectl watch: follows a job's progress until it ends (the following itself: Watch).
#include <memory>

#include "client/commands/commands.h"

namespace moe::client {

void AddWatchCommand(CLI::App& app, CommandContext& context) {
  auto id = std::make_shared<int64_t>(0);
  CLI::App* cmd = app.add_subcommand("watch", "Follow a job's progress until it ends");
  cmd->add_option("job", *id, "Job id")->required()->check(WholeNumber<int64_t>(1));
  cmd->callback(
      [id, &context] { context.exit_code = Watch(context.Client(), *id, context.flags); });
}

}  // namespace moe::client
