// moectl list: jobs, a page at a time or every page.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "client/commands/commands.h"

namespace moe::client {
namespace {

struct ListFlags {
  moe::v1::ListJobsRequest request;  // page_token and oldest_first are bound to it
  std::vector<std::string> states;
  bool all = false;
  int32_t limit = 50;
};

int RunList(ListFlags& list, CommandContext& context) {
  const bool json = context.flags.json();
  list.request.set_page_size(list.limit);
  for (const std::string& state : list.states) {
    moe::v1::JobState parsed;
    moe::v1::JobState_Parse("JOB_STATE_" + absl::AsciiStrToUpper(state), &parsed);
    list.request.add_states(parsed);
  }
  std::string out = json ? "" : JobListHeader() + "\n";
  for (;;) {
    const auto page = context.Client().List(list.request);
    if (!page.ok()) return ExitFor(page.status());
    for (const moe::v1::Job& job : page->jobs()) {
      absl::StrAppend(&out, json ? ToJson(job) : JobListLine(job), "\n");
    }
    std::cout << out << std::flush;
    out.clear();
    if (page->next_page_token().empty()) break;
    list.request.set_page_token(page->next_page_token());
    if (!list.all) {
      if (!json) {
        std::cout << "more: moectl list --page-token " << page->next_page_token() << " (or --all)"
                  << std::endl;
      }
      break;
    }
  }
  return 0;
}

}  // namespace

void AddListCommand(CLI::App& app, CommandContext& context) {
  auto flags = std::make_shared<ListFlags>();
  CLI::App* cmd = app.add_subcommand(
      "list", "Jobs, newest first, a page at a time (--limit); the spec of one: moectl status");
  cmd->add_option("--limit,-n", flags->limit, "Jobs per page (1 to 1000)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--page-token", *flags->request.mutable_page_token(),
                  "Where the previous page ended (it prints the command for the next one)");
  cmd->add_option("--state", flags->states,
                  "Only jobs in this state (queued, running, completed, failed, cancelled, "
                  "interrupted); repeatable")
      ->check(
          CLI::IsMember({"queued", "running", "completed", "failed", "cancelled", "interrupted"}));
  cmd->add_flag(
      "--oldest-first", [flags](int64_t) { flags->request.set_oldest_first(true); },
      "Oldest first");
  cmd->add_flag("--all", flags->all, "Every page, not only the first");
  cmd->callback([flags, &context] { context.exit_code = RunList(*flags, context); });
}

}  // namespace moe::client
