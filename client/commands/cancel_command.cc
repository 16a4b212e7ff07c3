// moectl cancel: asks moed to stop a job; its checkpoints stay.
#include <memory>

#include "client/commands/commands.h"

namespace moe::client {

void AddCancelCommand(CLI::App& app, CommandContext& context) {
  auto id = std::make_shared<int64_t>(0);
  CLI::App* cmd = app.add_subcommand("cancel", "Stop a job (its checkpoints stay)");
  cmd->add_option("job", *id, "Job id")->required()->check(WholeNumber<int64_t>(1));
  cmd->callback([id, &context] {
    context.exit_code = Print<moe::v1::Job>(
        context.Client().Cancel(*id), context.flags,
        [](const moe::v1::Job& j) { return absl::StrCat("job ", j.id(), ": cancel requested"); });
  });
}

}  // namespace moe::client
