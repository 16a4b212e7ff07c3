// moe-worker eval: scores a saved model on question/answer data and prints one JSON object.
#include <torch/torch.h>

#include <iostream>
#include <memory>
#include <string>

#include "common/spec_defaults.h"
#include "common/status_macros.h"
#include "worker/cli/cli_util.h"
#include "worker/cli/commands.h"
#include "worker/train/evaluator.h"

namespace moe::worker {
namespace {

struct EvalFlags {
  std::string checkpoint, data, tokenizer;
  uint64_t max_samples = 0;
  uint32_t max_seq_len = 256, max_new_tokens = 32;
};

absl::Status RunEval(const EvalFlags& flags) {
  const std::string path =
      flags.tokenizer.empty() ? flags.checkpoint + "/tokenizer.json" : flags.tokenizer;
  ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, Tokenizer::FromFile(path));
  ASSIGN_OR_RETURN(MptForCausalLM model, LoadSavedModel(flags.checkpoint));
  moe::v1::DataSpec data;
  data.set_train_file(flags.data);
  data.set_max_samples(flags.max_samples);
  data.set_max_seq_len(flags.max_seq_len);
  data.set_max_target_len(flags.max_new_tokens);
  data.set_prompt_template(common::kDefaultPromptTemplate);
  ASSIGN_OR_RETURN(const EvalSet set, LoadEvalSet(data, *tokenizer, DataSplit::kTrain));
  ASSIGN_OR_RETURN(const EvalResult result, Evaluate(model, *tokenizer, data, set));
  std::cout << result.ToJson().dump() << std::endl;
  return absl::OkStatus();
}

}  // namespace

void AddEvalCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<EvalFlags>();
  CLI::App* cmd = app.add_subcommand(
      "eval",
      "Score a saved model on a question/answer JSONL file: answer-token loss, token "
      "count, per-expert token shares and exact match of greedy answers (normalised "
      "string match with any listed answer), printed as one JSON object.");
  cmd->add_option("--checkpoint", flags->checkpoint, "Model directory")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--data", flags->data, "JSONL of question/answer records")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--tokenizer", flags->tokenizer,
                  "tokenizer.json (default: CHECKPOINT/tokenizer.json)");
  cmd->add_option("--max-samples", flags->max_samples, "Use only the first N records (0: all)")
      ->capture_default_str();
  cmd->add_option("--max-seq-len", flags->max_seq_len, "Tokens per scored sample")
      ->capture_default_str();
  cmd->add_option("--max-new-tokens", flags->max_new_tokens,
                  "Longest greedy answer (and answer cut)")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  cmd->callback([flags, exit_code] { *exit_code = ExitCode(RunEval(*flags)); });
}

}  // namespace moe::worker
