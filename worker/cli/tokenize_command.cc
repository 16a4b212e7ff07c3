// moe-worker tokenize: text lines -> JSON id arrays (or back with --decode), for people and
// for the reference-equality tests.
#include <iostream>
#include <memory>
#include <string>

#include "common/logging.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"
#include "worker/cli/commands.h"
#include "worker/data/tokenizer.h"

namespace moe::worker {
namespace {

struct TokenizeFlags {
  std::string tokenizer;
  bool decode = false;
};

// Returns the exit code. Lines are split on '\n' only; '\r' stays part of a line.
int RunTokenize(const TokenizeFlags& flags) {
  auto tokenizer = Tokenizer::FromFile(flags.tokenizer);
  if (!tokenizer.ok()) {
    spdlog::error("{}", tokenizer.status().ToString());
    return 1;
  }
  std::ios::sync_with_stdio(false);
  std::string line, out;
  std::vector<int32_t> ids;
  size_t line_number = 0;
  while (std::getline(std::cin, line)) {
    ++line_number;
    if (flags.decode) {
      nlohmann::json array = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (!array.is_array() || !std::all_of(array.begin(), array.end(),
                                            [](const auto& v) { return v.is_number_integer(); })) {
        spdlog::error("stdin:{}: expected a JSON array of token ids", line_number);
        return 1;
      }
      const std::vector<int32_t> in = array.get<std::vector<int32_t>>();
      auto text = (*tokenizer)->Decode(in);
      if (!text.ok()) {
        spdlog::error("stdin:{}: {}", line_number, text.status().message());
        return 1;
      }
      std::cout << *text << '\n';
      continue;
    }
    ids.clear();
    (*tokenizer)->Encode(line, &ids);
    out.assign("[");
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i > 0) out.push_back(',');
      out.append(std::to_string(ids[i]));
    }
    out.append("]\n");
    std::cout << out;
  }
  return 0;
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
  cmd->callback([flags, exit_code] { *exit_code = RunTokenize(*flags); });
}

}  // namespace moe::worker
