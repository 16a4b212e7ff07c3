#include "worker/data/pre_tokenizer.h"

#include <algorithm>
#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace moe::worker {
namespace {

using Json = nlohmann::json;

absl::Status Unsupported(absl::string_view path, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("tokenizer ", path, ": ", what, " is not supported"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<PreTokenizer>> PreTokenizer::FromJson(const Json& config) {
  auto pre = std::unique_ptr<PreTokenizer>(new PreTokenizer());
  if (config.is_null()) return pre;
  if (config.value("type", "") == "Sequence") {
    const Json& items = config.at("pretokenizers");
    for (size_t i = 0; i < items.size(); ++i) {
      RETURN_IF_ERROR(pre->Add(items[i], absl::StrCat("pre_tokenizer.pretokenizers[", i, "]")));
    }
  } else {
    RETURN_IF_ERROR(pre->Add(config, "pre_tokenizer"));
  }
  return pre;
}

absl::Status PreTokenizer::Add(const Json& config, const std::string& path) {
  const std::string type = config.value("type", "");
  if (byte_level_) return Unsupported(path, absl::StrCat(type, " after ByteLevel"));
  if (type == "ByteLevel") {
    if (config.value("use_regex", true)) {
      ASSIGN_OR_RETURN(auto regex, Regex::Create(kGpt2SplitPattern));
      stages_.push_back({std::move(regex), Behavior::kIsolated, false});
    }
    byte_level_ = true;
    add_prefix_space_ = config.value("add_prefix_space", false);
    return absl::OkStatus();
  }
  if (type == "Metaspace") {
    // Its rewriting applies to the text as a whole: only as the first pre-tokenizer.
    if (!stages_.empty() || byte_level_) return Unsupported(path, "Metaspace after another");
    Metaspace m{config.value("replacement", std::string("\u2581"))};
    if (m.replacement.empty()) {
      return Unsupported(absl::StrCat(path, ".replacement"), "an empty replacement");
    }
    // Older files say add_prefix_space instead of prepend_scheme.
    const std::string scheme = config.value(
        "prepend_scheme", std::string(config.value("add_prefix_space", true) ? "always" : "never"));
    if (scheme == "always") {
      m.prepend = Metaspace::kAlways;
    } else if (scheme == "first") {
      m.prepend = Metaspace::kFirst;
    } else if (scheme == "never") {
      m.prepend = Metaspace::kNever;
    } else {
      return Unsupported(absl::StrCat(path, ".prepend_scheme"), absl::StrCat("'", scheme, "'"));
    }
    if (config.value("split", true)) {
      ASSIGN_OR_RETURN(auto regex, Regex::Create(m.replacement, /*literal=*/true));
      stages_.push_back({std::move(regex), Behavior::kMergedWithNext, false});
    }
    metaspace_ = std::move(m);
    return absl::OkStatus();
  }
  if (type == "Split") {
    static const auto* const kBehaviors =
        new std::map<std::string, Behavior>{{"Removed", Behavior::kRemoved},
                                            {"Isolated", Behavior::kIsolated},
                                            {"MergedWithPrevious", Behavior::kMergedWithPrevious},
                                            {"MergedWithNext", Behavior::kMergedWithNext},
                                            {"Contiguous", Behavior::kContiguous}};
    const Json& pattern = config.at("pattern");
    const bool literal = pattern.contains("String");
    const std::string text =
        literal ? pattern.at("String").get<std::string>() : pattern.value("Regex", "");
    const std::string behavior = config.value("behavior", "Isolated");
    const auto it = kBehaviors->find(behavior);
    if (it == kBehaviors->end()) {
      return Unsupported(absl::StrCat(path, ".behavior"), absl::StrCat("'", behavior, "'"));
    }
    ASSIGN_OR_RETURN(auto regex, Regex::Create(text, literal));
    stages_.push_back({std::move(regex), it->second, config.value("invert", false)});
    return absl::OkStatus();
  }
  return Unsupported(absl::StrCat(path, ".type"), absl::StrCat("'", type, "'"));
}

void PreTokenizer::SplitPiece(const Stage& stage, absl::string_view piece,
                              std::vector<absl::string_view>* out) {
  // The piece as consecutive segments, each a match of the pattern or not (with invert, the
  // other way round), as the Rust library's find_matches makes them.
  struct Segment {
    size_t begin, end;
    bool match;
  };
  std::vector<std::pair<size_t, size_t>> spans;
  stage.regex->FindAll(piece, &spans);
  std::vector<Segment> segments;
  size_t at = 0;
  for (const auto& [begin, end] : spans) {
    if (begin > at) segments.push_back({at, begin, stage.invert});
    segments.push_back({begin, end, !stage.invert});
    at = end;
  }
  if (at < piece.size()) segments.push_back({at, piece.size(), stage.invert});

  // Each behavior folds the segments into pieces: a segment either starts a piece or extends
  // the one before it (after it, for MergedWithNext, which folds from the end).
  std::vector<Segment> pieces;  // match: the piece is removed
  bool previous_match = false;
  const auto fold = [&](const Segment& s, bool extends) {
    if (extends && !pieces.empty()) {
      Segment& last = pieces.back();
      last.begin = std::min(last.begin, s.begin);
      last.end = std::max(last.end, s.end);
    } else {
      pieces.push_back({s.begin, s.end, false});
    }
    previous_match = s.match;
  };
  switch (stage.behavior) {
    case Behavior::kRemoved:
      for (const Segment& s : segments) pieces.push_back(s);
      break;
    case Behavior::kIsolated:
      for (const Segment& s : segments) pieces.push_back({s.begin, s.end, false});
      break;
    case Behavior::kContiguous:
      for (const Segment& s : segments) fold(s, s.match == previous_match);
      break;
    case Behavior::kMergedWithPrevious:
      for (const Segment& s : segments) fold(s, s.match && !previous_match);
      break;
    case Behavior::kMergedWithNext:
      for (auto s = segments.rbegin(); s != segments.rend(); ++s) {
        fold(*s, s->match && !previous_match);
      }
      std::reverse(pieces.begin(), pieces.end());
      break;
  }
  for (const Segment& p : pieces) {
    if (!p.match && p.end > p.begin) out->push_back(piece.substr(p.begin, p.end - p.begin));
  }
}

bool PreTokenizer::Rewrite(absl::string_view text, bool at_start, std::string* out) const {
  if (!metaspace_) return false;
  *out = absl::StrReplaceAll(text, {{" ", metaspace_->replacement}});
  const bool prepend = metaspace_->prepend == Metaspace::kAlways ||
                       (metaspace_->prepend == Metaspace::kFirst && at_start);
  if (prepend && !absl::StartsWith(*out, metaspace_->replacement)) {
    out->insert(0, metaspace_->replacement);
  }
  return true;
}

void PreTokenizer::Split(absl::string_view text, std::vector<absl::string_view>* pieces) const {
  pieces->push_back(text);
  std::vector<absl::string_view> next;
  for (const Stage& stage : stages_) {
    next.clear();
    for (absl::string_view piece : *pieces) SplitPiece(stage, piece, &next);
    pieces->swap(next);
  }
}

}  // namespace moe::worker
