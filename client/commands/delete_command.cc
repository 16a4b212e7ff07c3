// moectl delete: forgets an ended job, optionally with its files.
#include <memory>
#include <string>

#include "client/commands/commands.h"

namespace moe::client {
namespace {

struct DeleteFlags {
  int64_t id = 0;
  bool files = false;
};

}  // namespace

void AddDeleteCommand(CLI::App& app, CommandContext& context) {
  auto flags = std::make_shared<DeleteFlags>();
  CLI::App* cmd = app.add_subcommand(
      "delete", "Forget an ended job (completed, failed or cancelled): its catalogue records");
  cmd->add_option("job", flags->id, "Job id")->required()->check(WholeNumber<int64_t>(1));
  cmd->add_flag("--files", flags->files,
                "Also delete its job directory (spec, logs) and its checkpoint directory");
  cmd->callback([flags, &context] {
    context.exit_code = Print<moe::v1::DeleteJobResponse>(
        context.Client().Delete(flags->id, flags->files), context.flags,
        [&](const moe::v1::DeleteJobResponse& r) {
          std::string out = absl::StrCat("job ", flags->id, " deleted");
          for (const std::string& dir : r.removed()) absl::StrAppend(&out, "\nremoved ", dir);
          return out;
        });
  });
}

}  // namespace moe::client
