#include "worker/data/pre_tokenizer.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace moe::worker {
namespace {

using Json = nlohmann::json;

absl::Status Unsupported(absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("tokenizer pre_tokenizer: ", what, " is not supported (byte-level BPE family)"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<PreTokenizer>> PreTokenizer::FromJson(const Json& config) {
  auto pre = std::unique_ptr<PreTokenizer>(new PreTokenizer());
  if (config.is_null()) return pre;
  if (config.value("type", "") == "Sequence") {
    for (const Json& item : config.at("pretokenizers")) RETURN_IF_ERROR(pre->Add(item));
  } else {
    RETURN_IF_ERROR(pre->Add(config));
  }
  return pre;
}

absl::Status PreTokenizer::Add(const Json& config) {
  const std::string type = config.value("type", "");
  if (byte_level_) return Unsupported(absl::StrCat(type, " after ByteLevel"));
  if (type == "ByteLevel") {
    if (config.value("use_regex", true)) {
      ASSIGN_OR_RETURN(auto regex, Regex::Create(kGpt2SplitPattern));
      stages_.push_back({std::move(regex), false});
    }
    byte_level_ = true;
    add_prefix_space_ = config.value("add_prefix_space", false);
    return absl::OkStatus();
  }
  if (type == "Split") {
    const Json& pattern = config.at("pattern");
    const bool literal = pattern.contains("String");
    const std::string text =
        literal ? pattern.at("String").get<std::string>() : pattern.value("Regex", "");
    const std::string behavior = config.value("behavior", "Isolated");
    if (behavior != "Isolated" && behavior != "Removed") {
      return Unsupported(absl::StrCat("Split behavior ", behavior));
    }
    if (config.value("invert", false)) return Unsupported("Split with invert");
    ASSIGN_OR_RETURN(auto regex, Regex::Create(text, literal));
    stages_.push_back({std::move(regex), behavior == "Removed"});
    return absl::OkStatus();
  }
  return Unsupported(absl::StrCat("type '", type, "'"));
}

void PreTokenizer::Split(absl::string_view text, std::vector<absl::string_view>* pieces) const {
  pieces->push_back(text);
  std::vector<absl::string_view> next;
  std::vector<std::pair<size_t, size_t>> spans;
  for (const Stage& stage : stages_) {
    next.clear();
    for (absl::string_view piece : *pieces) {
      spans.clear();
      stage.regex->FindAll(piece, &spans);
      size_t at = 0;
      for (const auto& [begin, end] : spans) {
        if (begin > at) next.push_back(piece.substr(at, begin - at));
        if (!stage.remove_matches) next.push_back(piece.substr(begin, end - begin));
        at = end;
      }
      if (at < piece.size()) next.push_back(piece.substr(at));
    }
    pieces->swap(next);
  }
}

}  // namespace moe::worker
