// moectl logs: prints (or follows) a worker's log.
#include <iostream>
#include <memory>
#include <string>

#include "client/commands/commands.h"

namespace moe::client {

void AddLogsCommand(CLI::App& app, CommandContext& context) {
  auto id = std::make_shared<int64_t>(0);
  auto request = std::make_shared<moe::v1::GetLogsRequest>();  // rank and follow bound to it
  CLI::App* cmd = app.add_subcommand("logs", "A worker's log (rank 0 of the newest attempt)");
  cmd->add_option("job", *id, "Job id")->required()->check(WholeNumber<int64_t>(1));
  cmd->add_option(
         "--rank",
         [request](const CLI::results_t& r) {
           request->set_rank(std::stoi(r[0]));
           return true;
         },
         "Worker rank")
      ->check(WholeNumber<int32_t>(0));
  cmd->add_flag_function(
      "--follow,-f", [request](int64_t) { request->set_follow(true); },
      "Keep printing until the job ends");
  cmd->callback([id, request, &context] {
    request->set_id(*id);
    context.exit_code = ExitFor(context.Client().Logs(
        *request, [](const std::string& data) { std::cout << data << std::flush; }));
  });
}

}  // namespace moe::client
