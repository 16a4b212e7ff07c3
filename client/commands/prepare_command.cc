// moectl prepare: labels question/answer JSONL with the four experts, here, without moed.
#include <iostream>
#include <memory>
#include <string>

#include "client/commands/commands.h"
#include "client/prepare.h"

namespace moe::client {
namespace {

struct PrepareFlags {
  std::string input, output;
  bool relabel = false;
};

int RunPrepare(const PrepareFlags& flags) {
  const auto result = PrepareDataset(flags.input, flags.output, flags.relabel);
  if (!result.ok()) return ExitFor(result.status());
  std::cout << Histogram(*result) << "wrote " << flags.output << std::endl;
  return 0;
}

}  // namespace

void AddPrepareCommand(CLI::App& app, CommandContext& context) {
  auto flags = std::make_shared<PrepareFlags>();
  CLI::App* cmd = app.add_subcommand(
      "prepare",
      "Label Natural-Questions-style JSONL records with the four experts by heuristics: how "
      "many/much and numbers -> numerical_reasoning; comparisons, 'between', X or Y -> "
      "multi_hop_reasoning; why/how/explain/cause -> commonsense_reasoning; else "
      "factual_lookup. Prints the label histogram. Runs here; moed is not needed.");
  cmd->add_option("--input", flags->input, "JSONL with question and answer")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--output", flags->output, "Where the labelled JSONL goes")->required();
  cmd->add_flag("--relabel", flags->relabel, "Replace labels the records already have");
  cmd->callback([flags, &context] { context.exit_code = RunPrepare(*flags); });
}

}  // namespace moe::client
