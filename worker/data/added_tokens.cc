#include "worker/data/added_tokens.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "worker/data/json_integer.h"

namespace moe::worker {
namespace {

// A byte of a word for single_word purposes: ASCII alphanumerics, '_', and any non-ASCII byte.
bool IsWordByte(char c) {
  return absl::ascii_isalnum(c) || c == '_' || static_cast<unsigned char>(c) >= 0x80;
}

}  // namespace

absl::StatusOr<AddedTokens> AddedTokens::FromJson(const nlohmann::json& added_tokens,
                                                  const Normalizer& normalizer) {
  AddedTokens out;
  if (added_tokens.is_null()) return out;
  if (!added_tokens.is_array()) {
    return absl::InvalidArgumentError("tokenizer: 'added_tokens' must be an array");
  }
  for (const nlohmann::json& t : added_tokens) {
    if (!t.is_object() || !t.contains("id")) {
      return absl::InvalidArgumentError(
          absl::StrCat("tokenizer: added token ", t.dump(), " needs a content and an id >= 0"));
    }
    const absl::StatusOr<int64_t> id = JsonInteger(t["id"], "added_tokens[].id", 0, 1 << 24);
    if (!id.ok()) return id.status();
    Token token{t.value("content", ""),
                static_cast<int32_t>(*id),
                t.value("lstrip", false),
                t.value("rstrip", false),
                t.value("single_word", false),
                t.value("normalized", !t.value("special", false)),
                ""};
    if (token.content.empty() || token.id < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("tokenizer: added token ", t.dump(), " needs a content and an id >= 0"));
    }
    if (token.normalized) {
      normalizer.Apply(token.content, &token.pattern);
    } else {
      token.pattern = token.content;
    }
    const int32_t index = static_cast<int32_t>(out.tokens_.size());
    out.id_to_index_[token.id] = index;
    out.content_to_id_.emplace(token.content, token.id);
    if (!token.pattern.empty()) {
      out.has_pass_[token.normalized] = true;
      out.by_first_byte_[token.normalized][static_cast<unsigned char>(token.pattern[0])].push_back(
          index);
    }
    out.tokens_.push_back(std::move(token));
  }
  for (auto& pass : out.by_first_byte_) {
    for (auto& list : pass) {
      std::stable_sort(list.begin(), list.end(), [&](int32_t a, int32_t b) {
        return out.tokens_[a].pattern.size() > out.tokens_[b].pattern.size();
      });
    }
  }
  return out;
}

void AddedTokens::Split(absl::string_view text, bool normalized,
                        const std::function<void(absl::string_view)>& on_text,
                        const std::function<void(int32_t)>& on_token) const {
  if (!has_pass_[normalized]) {  // the common case: no tokens of this pass to look for
    if (!text.empty()) on_text(text);
    return;
  }
  const auto& by_first_byte = by_first_byte_[normalized];
  size_t text_start = 0;  // start of the ordinary text not yet reported
  size_t i = 0;
  while (i < text.size()) {
    const Token* found = nullptr;
    for (int32_t index : by_first_byte[static_cast<unsigned char>(text[i])]) {
      const Token& t = tokens_[index];
      if (!absl::StartsWith(text.substr(i), t.pattern)) continue;
      const size_t end = i + t.pattern.size();
      if (t.single_word &&
          ((i > 0 && IsWordByte(text[i - 1])) || (end < text.size() && IsWordByte(text[end])))) {
        continue;
      }
      found = &t;
      break;  // longest first
    }
    if (found == nullptr) {
      ++i;
      continue;
    }
    size_t begin = i, end = i + found->pattern.size();
    if (found->lstrip) {
      while (begin > text_start && absl::ascii_isspace(text[begin - 1])) --begin;
    }
    if (found->rstrip) {
      while (end < text.size() && absl::ascii_isspace(text[end])) ++end;
    }
    if (begin > text_start) on_text(text.substr(text_start, begin - text_start));
    on_token(found->id);
    text_start = i = end;
  }
  if (text_start < text.size()) on_text(text.substr(text_start));
}

std::optional<int32_t> AddedTokens::TokenToId(absl::string_view content) const {
  const auto it = content_to_id_.find(content);
  if (it == content_to_id_.end()) return std::nullopt;
  return it->second;
}

const std::string* AddedTokens::IdToToken(int32_t id) const {
  const auto it = id_to_index_.find(id);
  return it == id_to_index_.end() ? nullptr : &tokens_[it->second].content;
}

}  // namespace moe::worker
