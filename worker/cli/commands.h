// The subcommands of moe-worker. Each Add*Command registers subcommands on `app`, with their
// flags and help; running one sets *exit_code: 0 on success, 1 on failure with the reason
// logged (CLI11 answers bad usage itself, before a command runs).
#ifndef MOE_WORKER_CLI_COMMANDS_H_
#define MOE_WORKER_CLI_COMMANDS_H_

#include "CLI/CLI.hpp"

namespace moe::worker {

void AddTokenizeCommand(CLI::App& app, int* exit_code);
void AddTrainTokenizerCommand(CLI::App& app, int* exit_code);
void AddDataCommand(CLI::App& app, int* exit_code);
void AddTrainCommand(CLI::App& app, int* exit_code);
void AddEvalCommand(CLI::App& app, int* exit_code);
// init, forward, generate and inspect.
void AddModelCommands(CLI::App& app, int* exit_code);
void AddPlanCommand(CLI::App& app, int* exit_code);

}  // namespace moe::worker

#endif  // MOE_WORKER_CLI_COMMANDS_H_
