// moe-worker tokenize: text lines -> JSON id arrays (or back with --decode), for people and
// for the reference-equality tests.
#include <chrono>
#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "worker/cli/cli_util.h"
#include "worker/cli/commands.h"
#include "worker/data/tokenizer.h"

namespace moe::worker {
namespace {

struct TokenizeFlags {
  std::string tokenizer;
  bool decode = false;
  bool bench = false;
  int repeat = 1;
};

// Encodes all of stdin `repeat` times and prints {"bytes","lines","seconds","mb_per_s"},
// timing only the encode loop (the same report as tests/reference/tokenize.mjs --bench).
void RunBench(const Tokenizer& tokenizer, int repeat) {
  std::vector<std::string> lines;
  size_t bytes = 0;
  for (std::string line; std::getline(std::cin, line);) {
    bytes += line.size();
    lines.push_back(std::move(line));
  }
  std::vector<int32_t> ids;
  size_t sink = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int r = 0; r < repeat; ++r) {
    for (const std::string& line : lines) {
      ids.clear();
      tokenizer.Encode(line, &ids);
      sink += ids.size();
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double total = static_cast<double>(bytes) * repeat;
  std::cout << nlohmann::json{{"bytes", total},
                              {"lines", lines.size() * repeat},
                              {"tokens", sink},
                              {"seconds", seconds},
                              {"mb_per_s", total / 1e6 / seconds}}
                   .dump()
            << '\n';
}

// Lines are split on '\n' only; '\r' stays part of a line.
absl::Status RunTokenize(const TokenizeFlags& flags) {
  ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, Tokenizer::FromFile(flags.tokenizer));
  std::ios::sync_with_stdio(false);
  if (flags.bench) {
    RunBench(*tokenizer, flags.repeat);
    return absl::OkStatus();
  }
  std::string line, out;
  std::vector<int32_t> ids;
  size_t line_number = 0;
  while (std::getline(std::cin, line)) {
    ++line_number;
    if (flags.decode) {
      nlohmann::json array = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (!array.is_array() || !std::all_of(array.begin(), array.end(),
                                            [](const auto& v) { return v.is_number_integer(); })) {
        return absl::InvalidArgumentError(
            absl::StrCat("stdin:", line_number, ": expected a JSON array of token ids"));
      }
      const std::vector<int32_t> in = array.get<std::vector<int32_t>>();
      auto text = tokenizer->Decode(in);
      if (!text.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("stdin:", line_number, ": ", text.status().message()));
      }
      std::cout << *text << '\n';
      continue;
    }
    ids.clear();
    tokenizer->Encode(line, &ids);
    out.assign("[");
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i > 0) out.push_back(',');
      out.append(std::to_string(ids[i]));
    }
    out.append("]\n");
    std::cout << out;
  }
  return absl::OkStatus();
}

}  // namespace

void AddTokenizeCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<TokenizeFlags>();
  CLI::App* cmd = app.add_subcommand(
      "tokenize",
      "Encode lines of stdin with a Hugging Face tokenizer.json, printing one JSON array of "
      "ids per line (no special tokens added); with --decode, read JSON id arrays and print "
      "text.");
  cmd->add_option("--tokenizer", flags->tokenizer, "Path to tokenizer.json")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_flag("--decode", flags->decode, "Decode JSON id arrays back to text");
  cmd->add_flag("--bench", flags->bench,
                "Encode all of stdin and print throughput as JSON instead of ids");
  cmd->add_option("--repeat", flags->repeat, "Passes over stdin with --bench")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->callback([flags, exit_code] { *exit_code = ExitCode(RunTokenize(*flags)); });
}

}  // namespace moe::worker
