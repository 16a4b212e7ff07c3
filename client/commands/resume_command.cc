// moectl resume: queues an ended job again from a committed checkpoint.
#include <memory>

#include "client/commands/commands.h"

namespace moe::client {
namespace {

struct ResumeFlags {
  int64_t id = 0;
  int64_t from_step = 0;  // 0: the newest
  int32_t workers = 0;    // 0: as before
};

}  // namespace

void AddResumeCommand(CLI::App& app, CommandContext& context) {
  auto flags = std::make_shared<ResumeFlags>();
  CLI::App* cmd = app.add_subcommand(
      "resume", "Queue a failed, cancelled or interrupted job again from a committed checkpoint");
  cmd->add_option("job", flags->id, "Job id")->required()->check(WholeNumber<int64_t>(1));
  cmd->add_option("--from-step", flags->from_step, "Checkpoint step (default: the newest)")
      ->check(WholeNumber<int64_t>(0));
  cmd->add_option("--workers", flags->workers,
                  "Workers this time (the global batch is kept by gradient accumulation)")
      ->check(WholeNumber<int32_t>(0));
  cmd->callback([flags, &context] {
    context.exit_code = Print<moe::v1::Job>(
        context.Client().Resume(flags->id, flags->from_step, flags->workers), context.flags,
        [](const moe::v1::Job& j) { return absl::StrCat("job ", j.id(), ": queued to resume"); });
  });
}

}  // namespace moe::client
