// moectl checkpoints: a job's committed checkpoints, as a table.
#include <memory>
#include <string>

#include "absl/strings/str_format.h"
#include "client/commands/commands.h"

namespace moe::client {
namespace {

std::string CheckpointTable(const moe::v1::ListCheckpointsResponse& response) {
  std::string out = "STEP    EPOCH  WORKERS  BYTES         PATH";
  for (const moe::v1::Checkpoint& c : response.checkpoints()) {
    absl::StrAppend(&out, "\n",
                    absl::StrFormat("%-7d %-6d %-8d %-13d %s", c.step(), c.epoch(), c.world_size(),
                                    c.bytes(), c.path()));
  }
  return out;
}

}  // namespace

void AddCheckpointsCommand(CLI::App& app, CommandContext& context) {
  auto id = std::make_shared<int64_t>(0);
  CLI::App* cmd = app.add_subcommand("checkpoints", "A job's committed checkpoints");
  cmd->add_option("job", *id, "Job id")->required()->check(WholeNumber<int64_t>(1));
  cmd->callback([id, &context] {
    context.exit_code = Print<moe::v1::ListCheckpointsResponse>(context.Client().Checkpoints(*id),
                                                                context.flags, CheckpointTable);
  });
}

}  // namespace moe::client
