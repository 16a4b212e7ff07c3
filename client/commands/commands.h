// The subcommands of moectl. Each Add*Command registers one subcommand on `app`, with its
// flags and help; running it sets context.exit_code (client/moectl.h lists the codes). CLI11
// answers bad usage itself, before a command runs. `context` must outlive the parse.
#ifndef MOE_CLIENT_COMMANDS_COMMANDS_H_
#define MOE_CLIENT_COMMANDS_COMMANDS_H_

#include "CLI/CLI.hpp"
#include "client/commands/command_context.h"

namespace moe::client {

void AddSubmitCommand(CLI::App& app, CommandContext& context);
void AddListCommand(CLI::App& app, CommandContext& context);
void AddDeleteCommand(CLI::App& app, CommandContext& context);
void AddStatusCommand(CLI::App& app, CommandContext& context);
void AddLogsCommand(CLI::App& app, CommandContext& context);
void AddWatchCommand(CLI::App& app, CommandContext& context);
void AddCancelCommand(CLI::App& app, CommandContext& context);
void AddResumeCommand(CLI::App& app, CommandContext& context);
void AddCheckpointsCommand(CLI::App& app, CommandContext& context);
// Run here; moed is not needed.
void AddPrepareCommand(CLI::App& app, CommandContext& context);
void AddPlanCommand(CLI::App& app, CommandContext& context);

}  // namespace moe::client

#endif  // MOE_CLIENT_COMMANDS_COMMANDS_H_
