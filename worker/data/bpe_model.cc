#include "worker/data/bpe_model.h"

#include <queue>

#include "absl/algorithm/container.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "utf8proc.h"
#include "worker/data/json_integer.h"

namespace moe::worker {
namespace {

using Json = nlohmann::json;

// `field` of the "model" object holds `what`, which this implementation does not do.
absl::Status Unsupported(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("tokenizer model.", field, ": ", what, " is not supported (BPE only)"));
}

// One symbol of the word being merged, in a doubly linked list over a vector.
struct Symbol {
  int32_t id;
  int32_t prev;  // -1: none
  int32_t next;  // -1: none
  bool alive;
};

// A candidate merge of the symbol at `pos` with its successor. Lower rank first, then
// leftmost position, as the reference implementation orders them.
struct Candidate {
  int32_t rank;
  int32_t pos;
  int32_t result;
  bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

}  // namespace

absl::StatusOr<std::unique_ptr<BpeModel>> BpeModel::FromJson(const Json& model) {
  if (!model.is_object() || model.value("type", "BPE") != "BPE") {
    return Unsupported("type", absl::StrCat("'", model.value("type", std::string("?")), "'"));
  }
  auto is_set = [&](const char* key) { return model.contains(key) && !model[key].is_null(); };
  if (is_set("continuing_subword_prefix") && model["continuing_subword_prefix"] != "") {
    return Unsupported("continuing_subword_prefix", "a prefix");
  }
  if (is_set("end_of_word_suffix") && model["end_of_word_suffix"] != "") {
    return Unsupported("end_of_word_suffix", "a suffix");
  }
  if (is_set("dropout") && model["dropout"].get<double>() > 0) {
    return Unsupported("dropout", "a dropout above 0");
  }
  if (!model.contains("vocab") || !model["vocab"].is_object()) {
    return absl::InvalidArgumentError("tokenizer model: 'vocab' must be an object");
  }

  auto bpe = std::unique_ptr<BpeModel>(new BpeModel());
  for (const auto& [token, id_json] : model["vocab"].items()) {
    const absl::StatusOr<int64_t> id_or =
        JsonInteger(id_json, absl::StrCat("model.vocab['", token, "']"), 0, 1 << 24);
    if (!id_or.ok()) return id_or.status();
    const int64_t id = *id_or;
    bpe->vocab_.emplace(token, static_cast<int32_t>(id));
    if (bpe->id_to_token_.size() <= static_cast<size_t>(id)) bpe->id_to_token_.resize(id + 1);
    bpe->id_to_token_[id] = token;
  }
  const Json& merges = model.contains("merges") ? model["merges"] : Json::array();
  int32_t rank = 0;
  for (const Json& merge : merges) {
    std::string left, right;
    if (merge.is_string()) {
      const std::string text = merge.get<std::string>();
      const size_t space = text.find(' ');
      if (space == std::string::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("tokenizer model: merge ", rank, " '", text, "' has no space"));
      }
      left = text.substr(0, space);
      right = text.substr(space + 1);
    } else if (merge.is_array() && merge.size() == 2) {
      left = merge[0].get<std::string>();
      right = merge[1].get<std::string>();
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("tokenizer model: merge ", rank, " must be \"a b\" or [a, b]"));
    }
    const auto a = bpe->TokenToId(left), b = bpe->TokenToId(right),
               c = bpe->TokenToId(left + right);
    if (!a || !b || !c) {
      return absl::InvalidArgumentError(absl::StrCat("tokenizer model: merge ", rank, " ('", left,
                                                     "', '", right,
                                                     "') uses a token missing from the vocab"));
    }
    bpe->merges_.try_emplace(PairKey(*a, *b), Merge{rank, *c});  // first (lowest) rank wins
    ++rank;
  }
  if (is_set("unk_token")) {
    bpe->unk_id_ = bpe->TokenToId(model["unk_token"].get<std::string>());
    if (!bpe->unk_id_) return absl::InvalidArgumentError("tokenizer model: unk_token not in vocab");
  }
  bpe->ignore_merges_ = model.value("ignore_merges", false);
  bpe->fuse_unk_ = model.value("fuse_unk", false);
  if (model.value("byte_fallback", false)) {
    bpe->byte_fallback_.emplace();
    for (int b = 0; b < 256; ++b) {
      const auto id = bpe->TokenToId(absl::StrFormat("<0x%02X>", b));
      (*bpe->byte_fallback_)[b] = id.value_or(-1);
    }
  }
  return bpe;
}

std::optional<int32_t> BpeModel::TokenToId(absl::string_view token) const {
  const auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::IdToToken(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size()) return nullptr;
  const std::string& token = id_to_token_[id];
  return token.empty() ? nullptr : &token;
}

void BpeModel::Encode(absl::string_view word, std::vector<int32_t>* ids) const {
  if (ignore_merges_) {
    if (auto id = TokenToId(word)) {
      ids->push_back(*id);
      return;
    }
  }
  // Split into characters, each a vocabulary token; as the reference, one that is not becomes
  // its bytes' <0xXX> tokens (byte_fallback, when all exist), else unk_token (runs of them one
  // with fuse_unk; an unk waits for the next known character, as there), else nothing.
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  const auto add = [&symbols](int32_t id) {
    const int32_t index = static_cast<int32_t>(symbols.size());
    symbols.push_back(Symbol{id, index - 1, -1, true});
    if (index > 0) symbols[index - 1].next = index;
  };
  bool pending_unk = false;
  const auto* p = reinterpret_cast<const uint8_t*>(word.data());
  size_t i = 0;
  while (i < word.size()) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t n = utf8proc_iterate(p + i, word.size() - i, &cp);
    if (n <= 0) n = 1;
    const absl::string_view character = word.substr(i, n);
    i += n;
    if (const std::optional<int32_t> id = TokenToId(character)) {
      if (pending_unk) add(*unk_id_);
      pending_unk = false;
      add(*id);
      continue;
    }
    if (byte_fallback_ && absl::c_all_of(character, [&](char b) {
          return (*byte_fallback_)[static_cast<uint8_t>(b)] >= 0;
        })) {
      for (char b : character) add((*byte_fallback_)[static_cast<uint8_t>(b)]);
      continue;
    }
    if (!unk_id_) continue;  // no unk token: dropped, as the reference does
    if (pending_unk && !fuse_unk_) add(*unk_id_);
    pending_unk = true;
  }
  if (pending_unk) add(*unk_id_);

  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  auto consider = [&](int32_t pos) {
    if (pos < 0 || symbols[pos].next < 0) return;
    const auto it = merges_.find(PairKey(symbols[pos].id, symbols[symbols[pos].next].id));
    if (it != merges_.end()) queue.push({it->second.rank, pos, it->second.result});
  };
  for (int32_t s = 0; s + 1 < static_cast<int32_t>(symbols.size()); ++s) consider(s);

  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (!left.alive || left.next < 0) continue;
    // Stale if either side changed since this candidate was queued.
    const auto it = merges_.find(PairKey(left.id, symbols[left.next].id));
    if (it == merges_.end() || it->second.result != top.result) continue;
    Symbol& right = symbols[left.next];
    right.alive = false;
    left.id = top.result;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.pos;
    consider(left.prev);
    consider(top.pos);
  }
  for (const Symbol& s : symbols) {
    if (s.alive) ids->push_back(s.id);
  }
}

}  // namespace moe::worker
