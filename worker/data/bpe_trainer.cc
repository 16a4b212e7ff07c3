#include "worker/data/bpe_trainer.h"

#include <algorithm>
#include <queue>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "worker/data/byte_level.h"
#include "worker/data/normalizer.h"
#include "worker/data/pre_tokenizer.h"

namespace moe::worker {
namespace {

using Json = nlohmann::json;
using Pair = std::pair<int32_t, int32_t>;

uint64_t Key(Pair p) {
  return (static_cast<uint64_t>(p.first) << 32) | static_cast<uint32_t>(p.second);
}
Pair FromKey(uint64_t k) { return {static_cast<int32_t>(k >> 32), static_cast<int32_t>(k)}; }

Json ByteLevelConfig() {
  return {{"type", "ByteLevel"},
          {"add_prefix_space", false},
          {"trim_offsets", true},
          {"use_regex", true}};
}

// The state of one training run: words as symbol sequences and pair statistics.
class MergeState {
 public:
  // `tokens` (id -> string) breaks ties; it may grow while this state lives.
  explicit MergeState(const std::vector<std::string>* tokens) : tokens_(*tokens) {}

  void AddWord(std::vector<int32_t> symbols, int64_t count) {
    words_.push_back({std::move(symbols), count});
    Count(static_cast<int32_t>(words_.size()) - 1, +1);
  }

  // Pops the best pair (highest count, then smallest strings). False when none is left
  // with count >= min_count.
  bool Best(int64_t min_count, Pair* best) {
    while (!heap_.empty()) {
      const auto [count, key] = heap_.top();
      heap_.pop();
      const auto it = pair_counts_.find(key);
      if (it == pair_counts_.end() || it->second != count) continue;  // stale entry
      if (count < min_count) return false;
      *best = FromKey(key);
      return true;
    }
    return false;
  }

  // Replaces every occurrence of `pair` by `merged`, updating the statistics.
  void Apply(Pair pair, int32_t merged) {
    const auto users = where_[Key(pair)];  // copy: Count() edits where_
    for (int32_t w : users) {
      Count(w, -1);
      std::vector<int32_t>& s = words_[w].symbols;
      std::vector<int32_t> out;
      out.reserve(s.size());
      for (size_t i = 0; i < s.size(); ++i) {
        if (i + 1 < s.size() && s[i] == pair.first && s[i + 1] == pair.second) {
          out.push_back(merged);
          ++i;
        } else {
          out.push_back(s[i]);
        }
      }
      s = std::move(out);
      Count(w, +1);
    }
    Refresh();
  }

  // Queues the current counts of the pairs changed since the last call.
  void Refresh() {
    for (uint64_t key : touched_) {
      if (const auto it = pair_counts_.find(key); it != pair_counts_.end()) {
        heap_.push({it->second, key});
      }
    }
    touched_.clear();
  }

 private:
  struct Word {
    std::vector<int32_t> symbols;
    int64_t count;
  };
  struct Entry {
    int64_t count;
    uint64_t key;
  };
  struct Worse {
    const std::vector<std::string>* tokens;
    bool operator()(const Entry& a, const Entry& b) const {
      if (a.count != b.count) return a.count < b.count;
      const Pair pa = FromKey(a.key), pb = FromKey(b.key);
      const auto& t = *tokens;
      return std::tie(t[pa.first], t[pa.second]) > std::tie(t[pb.first], t[pb.second]);
    }
  };

  // Adds (sign +1) or removes (-1) the pairs of word `w` from the statistics.
  void Count(int32_t w, int sign) {
    const Word& word = words_[w];
    for (size_t i = 0; i + 1 < word.symbols.size(); ++i) {
      const uint64_t key = Key({word.symbols[i], word.symbols[i + 1]});
      int64_t& c = pair_counts_[key];
      c += sign * word.count;
      if (sign > 0) where_[key].insert(w);
      if (c == 0) {
        pair_counts_.erase(key);
        where_.erase(key);
      }
      touched_.insert(key);
    }
  }

  const std::vector<std::string>& tokens_;
  std::vector<Word> words_;
  absl::flat_hash_map<uint64_t, int64_t> pair_counts_;
  absl::flat_hash_map<uint64_t, absl::flat_hash_set<int32_t>> where_;
  absl::flat_hash_set<uint64_t> touched_;
  std::priority_queue<Entry, std::vector<Entry>, Worse> heap_{Worse{&tokens_}};
};

}  // namespace

BpeTrainer::BpeTrainer(BpeTrainerOptions options) : options_(std::move(options)) {}

void BpeTrainer::Add(absl::string_view text) {
  static const auto* const kPre = PreTokenizer::FromJson(ByteLevelConfig())->release();
  static const auto* const kNfc = new Normalizer(*Normalizer::FromJson({{"type", "NFC"}}));
  std::string valid, normalized;
  if (!common::IsValidUtf8(text)) {
    common::RepairUtf8(text, &valid);
    text = valid;
  }
  kNfc->Apply(text, &normalized);
  std::vector<absl::string_view> pieces;
  kPre->Split(normalized, &pieces);
  for (absl::string_view piece : pieces) ++word_counts_[piece];
  words_seen_ += static_cast<int64_t>(pieces.size());
}

absl::StatusOr<Json> BpeTrainer::Train() const {
  const int32_t specials = static_cast<int32_t>(options_.special_tokens.size());
  if (options_.vocab_size < specials + 256) {
    return absl::InvalidArgumentError(absl::StrCat("vocab size ", options_.vocab_size,
                                                   " must be at least ", specials + 256,
                                                   " (special tokens + 256 byte tokens)"));
  }
  const ByteLevel& bytes = ByteLevel::Get();
  std::vector<std::string> tokens = options_.special_tokens;
  for (int b = 0; b < 256; ++b) {
    const char byte = static_cast<char>(b);
    bytes.Encode(absl::string_view(&byte, 1), &tokens.emplace_back());
  }
  MergeState state(&tokens);
  // Sorted for a deterministic word order (the hash map's order is not).
  std::vector<std::pair<std::string, int64_t>> words(word_counts_.begin(), word_counts_.end());
  std::sort(words.begin(), words.end());
  for (const auto& [word, count] : words) {
    std::vector<int32_t> symbols;
    for (unsigned char c : word) symbols.push_back(specials + c);
    state.AddWord(std::move(symbols), count);
  }
  state.Refresh();

  Json merges = Json::array();
  Pair best;
  while (static_cast<int32_t>(tokens.size()) < options_.vocab_size &&
         state.Best(options_.min_frequency, &best)) {
    merges.push_back(absl::StrCat(tokens[best.first], " ", tokens[best.second]));
    tokens.push_back(tokens[best.first] + tokens[best.second]);
    state.Apply(best, static_cast<int32_t>(tokens.size()) - 1);
  }

  Json vocab = Json::object();
  for (size_t id = 0; id < tokens.size(); ++id) vocab[tokens[id]] = id;
  Json added = Json::array();
  for (int32_t id = 0; id < specials; ++id) {
    added.push_back({{"id", id},
                     {"content", tokens[id]},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  }
  return Json{{"version", "1.0"},
              {"truncation", nullptr},
              {"padding", nullptr},
              {"added_tokens", added},
              {"normalizer", {{"type", "NFC"}}},
              {"pre_tokenizer", ByteLevelConfig()},
              {"post_processor", ByteLevelConfig()},
              {"decoder", ByteLevelConfig()},
              {"model",
               {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"continuing_subword_prefix", nullptr},
                {"end_of_word_suffix", nullptr},
                {"fuse_unk", false},
                {"byte_fallback", false},
                {"vocab", vocab},
                {"merges", merges}}}};
}

}  // namespace moe::worker
