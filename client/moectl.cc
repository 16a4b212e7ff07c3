#include "client/moectl.h"

#include <cstdlib>
#include <iostream>

#include "CLI/CLI.hpp"
#include "client/commands/command_context.h"
#include "client/commands/commands.h"

namespace moe::client {

int RunMoectl(int argc, char** argv) {
  CLI::App app{
      "moectl: submit and follow moetrain jobs on moed.\n"
      "Exit codes: 0 done; 1 moed refused the request; 2 bad usage or invalid spec; 3 the\n"
      "watched job ended FAILED or CANCELLED; 4 moed cannot be reached."};
  app.require_subcommand(1);
  CommandContext context;
  GlobalFlags& flags = context.flags;
  if (const char* env = std::getenv("MOECTL_SERVER"); env != nullptr && *env != '\0') {
    flags.server = env;
  }
  app.add_option("--server", flags.server, "moed's address (or MOECTL_SERVER)")
      ->capture_default_str();
  app.add_option("--token-file", flags.token_file,
                 "File whose first line is moed's bearer token (or MOECTL_TOKEN_FILE)")
      ->envname("MOECTL_TOKEN_FILE");
  app.add_option("--tls-ca", flags.tls_ca,
                 "CA certificate (PEM) to check moed's TLS certificate against; turns TLS on "
                 "(or MOECTL_TLS_CA)")
      ->envname("MOECTL_TLS_CA");
  app.add_option("--output,-o", flags.output, "text or json (read commands)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();

  AddSubmitCommand(app, context);
  AddListCommand(app, context);
  AddDeleteCommand(app, context);
  AddStatusCommand(app, context);
  AddLogsCommand(app, context);
  AddWatchCommand(app, context);
  AddCancelCommand(app, context);
  AddResumeCommand(app, context);
  AddCheckpointsCommand(app, context);
  AddPrepareCommand(app, context);
  AddPlanCommand(app, context);

  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {  // thrown by a command (CLI11 prints nothing)
    std::cerr << e.what() << std::endl;
    return e.get_exit_code();
  } catch (const CLI::ParseError& e) {
    const int exit = app.exit(e);
    return exit == 0 ? 0 : kExitUsage;
  }
  return context.exit_code;
}

}  // namespace moe::client
