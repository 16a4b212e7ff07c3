// moe-worker train-tokenizer: learns a byte-level BPE tokenizer.json from text or from a
// question/answer JSONL data set (rendered with the default prompt template).
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/spec_defaults.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"
#include "worker/cli/cli_util.h"
#include "worker/cli/commands.h"
#include "worker/data/bpe_trainer.h"
#include "worker/data/prompt_template.h"
#include "worker/data/qa_record.h"

namespace moe::worker {
namespace {

struct TrainTokenizerFlags {
  std::vector<std::string> inputs;
  std::string format = "text";
  std::string out;
  BpeTrainerOptions options;
};

absl::Status RunTrainTokenizer(const TrainTokenizerFlags& flags) {
  BpeTrainer trainer(flags.options);
  const auto prompt_template = PromptTemplate::Parse(common::kDefaultPromptTemplate);
  for (const std::string& input : flags.inputs) {
    std::ifstream in(input, std::ios::binary);
    std::string line;
    int64_t line_number = 0;
    while (std::getline(in, line)) {
      ++line_number;
      if (flags.format == "text") {
        trainer.Add(line);
        continue;
      }
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      absl::StatusOr<QaRecord> record = ParseQaRecord(line);
      if (!record.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(input, ":", line_number, ": ", record.status().message()));
      }
      trainer.Add(prompt_template->Prompt(record->question));
      trainer.Add(prompt_template->Answer(record->answer));
    }
    spdlog::info("read {} lines of {}", line_number, input);
  }
  ASSIGN_OR_RETURN(const nlohmann::json json, trainer.Train());
  std::ofstream out(flags.out, std::ios::binary | std::ios::trunc);
  out << json.dump(1) << '\n';
  out.close();
  if (!out) return absl::InternalError(absl::StrCat(flags.out, ": cannot write"));
  spdlog::info("wrote {}: {} tokens ({} merges) from {} words", flags.out,
               json["model"]["vocab"].size(), json["model"]["merges"].size(), trainer.words_seen());
  return absl::OkStatus();
}

}  // namespace

void AddTrainTokenizerCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<TrainTokenizerFlags>();
  CLI::App* cmd = app.add_subcommand(
      "train-tokenizer",
      "Learn a byte-level BPE tokenizer (GPT-NeoX layout: NFC, GPT-2 split regex, "
      "<|endoftext|>=0, <|padding|>=1) and write it as a Hugging Face tokenizer.json.");
  cmd->add_option("--input", flags->inputs, "Corpus files (repeatable)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--format", flags->format,
                  "text: one document per line; qa-jsonl: question/answer records, rendered "
                  "with the default prompt template")
      ->check(CLI::IsMember({"text", "qa-jsonl"}))
      ->capture_default_str();
  cmd->add_option("--vocab-size", flags->options.vocab_size,
                  "Tokens in all: special tokens + 256 bytes + merges")
      ->check(CLI::Range(258, 1 << 20))
      ->capture_default_str();
  cmd->add_option("--min-frequency", flags->options.min_frequency,
                  "Never merge a pair seen fewer times")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--out", flags->out, "Where to write tokenizer.json")->required();
  cmd->callback([flags, exit_code] { *exit_code = ExitCode(RunTrainTokenizer(*flags)); });
}

}  // namespace moe::worker
