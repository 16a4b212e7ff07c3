// moe-worker: one training process per device, plus tools for the data it trains on.
#include "CLI/CLI.hpp"
#include "common/logging.h"
#include "spdlog/spdlog.h"
#include "worker/cli/commands.h"
#include "worker/parallel/device.h"

int main(int argc, char** argv) {
  CLI::App app{"moe-worker: MPT Mixture-of-Experts training worker and data tools"};
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn or error")
      ->capture_default_str();
  app.set_version_flag(
      "--version", [] { return "moe-worker: " + moe::worker::BuildDescription(); },
      "Print the LibTorch version, whether CUDA and NCCL are compiled in, the GPUs seen");
  int exit_code = 0;
  moe::worker::AddTokenizeCommand(app, &exit_code);
  moe::worker::AddTrainTokenizerCommand(app, &exit_code);
  moe::worker::AddTrainCommand(app, &exit_code);
  moe::worker::AddEvalCommand(app, &exit_code);
  moe::worker::AddDataCommand(app, &exit_code);
  moe::worker::AddModelCommands(app, &exit_code);
  moe::worker::AddPlanCommand(app, &exit_code);
  app.parse_complete_callback([&] {
    if (auto status = moe::common::SetupLogging(log_level); !status.ok()) {
      throw CLI::ValidationError("--log-level", std::string(status.message()));
    }
  });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {  // last resort: LibTorch or the standard library threw
    spdlog::critical("{}", e.what());
    return 1;
  }
  return exit_code;
}
