// Tokenizer: BPE merge order against a naive reference, byte-level round trips, added
// tokens, invalid UTF-8, and clear errors for broken or unsupported tokenizer.json files.
#include "worker/data/tokenizer.h"

#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "utf8proc.h"

namespace moe::worker {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Json = nlohmann::json;

const std::string kTiny = std::string(MOE_SOURCE_DIR) + "/assets/tiny-tokenizer/tokenizer.json";
const std::string kCorpus = std::string(MOE_SOURCE_DIR) + "/tests/data/tokenizer_corpus.txt";

std::vector<std::string> CorpusLines() {
  std::ifstream in(kCorpus, std::ios::binary);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string Nfc(const std::string& s) {
  char* out = reinterpret_cast<char*>(utf8proc_NFC(reinterpret_cast<const uint8_t*>(s.c_str())));
  std::string result(out);
  free(out);
  return result;
}

// A character-level BPE tokenizer.json (no pre-tokenizer) over `vocab` with `merges`.
std::unique_ptr<Tokenizer> Plain(const std::vector<std::string>& vocab,
                                 const std::vector<std::string>& merges) {
  Json v = Json::object();
  for (size_t i = 0; i < vocab.size(); ++i) v[vocab[i]] = i;
  Json doc = {{"model", {{"type", "BPE"}, {"vocab", v}, {"merges", merges}}}};
  auto tok = Tokenizer::FromJson(doc.dump(), "test");
  EXPECT_TRUE(tok.ok()) << tok.status();
  return std::move(tok).value();
}

TEST(Bpe, AppliesMergesByRankNotPosition) {
  const std::vector<std::string> vocab = {"a", "b", "c", "ab", "bc", "abc"};
  // "b c" outranks "a b": abc -> a|bc -> abc through "a bc".
  auto first = Plain(vocab, {"b c", "a b", "a bc"});
  EXPECT_THAT(first->Encode("abc"), ElementsAre(5));
  // Without "a bc", a|bc stays split although "a b" exists.
  auto second = Plain(vocab, {"b c", "a b"});
  EXPECT_THAT(second->Encode("abc"), ElementsAre(0, 4));
  auto third = Plain(vocab, {"a b", "b c"});
  EXPECT_THAT(third->Encode("abc"), ElementsAre(3, 2));
}

// The textbook algorithm: repeatedly merge the leftmost occurrence of the lowest-ranked pair.
std::vector<std::string> NaiveBpe(const std::string& word,
                                  const std::map<std::pair<std::string, std::string>, int>& ranks) {
  std::vector<std::string> symbols;
  for (char c : word) symbols.emplace_back(1, c);
  while (true) {
    int best = -1, best_rank = INT32_MAX;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      const auto it = ranks.find({symbols[i], symbols[i + 1]});
      if (it != ranks.end() && it->second < best_rank)
        best_rank = it->second, best = static_cast<int>(i);
    }
    if (best < 0) return symbols;
    symbols[best] += symbols[best + 1];
    symbols.erase(symbols.begin() + best + 1);
  }
}

TEST(Bpe, MatchesNaiveReferenceOnRandomMergeTables) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<std::string> vocab = {"a", "b", "c", "d"};
    std::vector<std::string> merges;
    std::map<std::pair<std::string, std::string>, int> ranks;
    for (int m = 0; m < 30; ++m) {  // random merges of existing tokens
      const std::string& l = vocab[rng() % vocab.size()];
      const std::string& r = vocab[rng() % vocab.size()];
      if (ranks.count({l, r}) || l.size() + r.size() > 6) continue;
      ranks[{l, r}] = static_cast<int>(merges.size());
      merges.push_back(l + " " + r);
      if (std::find(vocab.begin(), vocab.end(), l + r) == vocab.end()) vocab.push_back(l + r);
    }
    auto tok = Plain(vocab, merges);
    for (int w = 0; w < 50; ++w) {
      std::string word;
      for (int n = 1 + rng() % 12; n > 0; --n) word += static_cast<char>('a' + rng() % 4);
      std::vector<int32_t> expected;
      for (const std::string& s : NaiveBpe(word, ranks)) expected.push_back(*tok->TokenToId(s));
      EXPECT_EQ(tok->Encode(word), expected) << "word " << word << " trial " << trial;
    }
  }
}

TEST(TinyTokenizer, DecodeInvertsEncodeUpToNfc) {
  auto tok = Tokenizer::FromFile(kTiny);
  ASSERT_TRUE(tok.ok()) << tok.status();
  const std::vector<std::string> lines = CorpusLines();
  ASSERT_GT(lines.size(), 1000u);
  for (const std::string& line : lines) {
    const std::vector<int32_t> ids = (*tok)->Encode(line);
    auto text = (*tok)->Decode(ids);
    ASSERT_TRUE(text.ok());
    ASSERT_EQ(*text, Nfc(line));
  }
}

TEST(TinyTokenizer, SpecialTokensAreRecognisedInTextAndDecoded) {
  auto tok = std::move(Tokenizer::FromFile(kTiny)).value();
  EXPECT_EQ(tok->TokenToId("<|endoftext|>"), 0);
  EXPECT_EQ(tok->TokenToId("<|padding|>"), 1);
  std::vector<int32_t> expected = tok->Encode("Question");
  expected.push_back(0);
  const std::vector<int32_t> answer = tok->Encode(" Answer");
  expected.insert(expected.end(), answer.begin(), answer.end());
  EXPECT_EQ(tok->Encode("Question<|endoftext|> Answer"), expected);
  EXPECT_EQ(*tok->Decode(expected), "Question<|endoftext|> Answer");
  // A near miss is ordinary text.
  EXPECT_THAT(tok->Encode("<|endoftext|"), ::testing::Not(::testing::Contains(0)));
}

TEST(TinyTokenizer, InvalidUtf8IsReadAsReplacementCharacters) {
  auto tok = std::move(Tokenizer::FromFile(kTiny)).value();
  // \xff and \xfe are never valid; \xe2\x82 is a truncated 3-byte sequence (one U+FFFD).
  const std::string bad = "ok \xff\xfe then \xe2\x82";
  const std::string replaced = "ok \xEF\xBF\xBD\xEF\xBF\xBD then \xEF\xBF\xBD";
  EXPECT_EQ(tok->Encode(bad), tok->Encode(replaced));
  EXPECT_EQ(*tok->Decode(tok->Encode(bad)), replaced);
  // Ids whose bytes are not UTF-8 on their own decode with replacement, never crash.
  const std::vector<int32_t> lone = tok->Encode("\xC3\xA9");  // é
  if (lone.size() == 2) EXPECT_EQ(*tok->Decode({lone[0]}), "\xEF\xBF\xBD");
  EXPECT_THAT(std::string(tok->Decode({tok->size() + 5}).status().message()),
              HasSubstr("is not in the tokenizer"));
}

TEST(TokenizerErrors, AreClearAndNeverCrash) {
  EXPECT_EQ(Tokenizer::FromFile("/nonexistent/tokenizer.json").status().code(),
            absl::StatusCode::kNotFound);
  std::ifstream in(kTiny);
  const std::string full((std::istreambuf_iterator<char>(in)), {});
  const auto error = [](const std::string& json) {
    auto tok = Tokenizer::FromJson(json, "t.json");
    EXPECT_FALSE(tok.ok());
    return std::string(tok.status().message());
  };
  EXPECT_THAT(error(full.substr(0, full.size() / 2)), HasSubstr("t.json: not valid JSON"));
  EXPECT_THAT(error("{}"), HasSubstr("not a Hugging Face tokenizer.json"));
  Json doc = Json::parse(full);
  Json wordpiece = doc;
  wordpiece["model"]["type"] = "WordPiece";
  EXPECT_THAT(error(wordpiece.dump()), HasSubstr("model.type: 'WordPiece' is not supported"));
  Json bad_merge = doc;
  bad_merge["model"]["merges"].push_back("zzz qqq");
  EXPECT_THAT(error(bad_merge.dump()), HasSubstr("uses a token missing from the vocab"));
  Json lowercase = doc;
  lowercase["normalizer"] = {{"type", "Lowercase"}};
  EXPECT_THAT(error(lowercase.dump()), HasSubstr("normalizer.type: 'Lowercase' is not supported"));
  Json empty_sequence = doc;
  empty_sequence["normalizer"] = {{"type", "Sequence"}};  // no "normalizers" list
  EXPECT_THAT(error(empty_sequence.dump()), HasSubstr("t.json: malformed tokenizer"));
  Json no_pattern = doc;
  no_pattern["pre_tokenizer"] = {{"type", "Split"}, {"behavior", "Isolated"}};
  EXPECT_THAT(error(no_pattern.dump()), HasSubstr("t.json: malformed tokenizer"));
  Json bad_regex = doc;
  bad_regex["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}};
  EXPECT_THAT(error(bad_regex.dump()), HasSubstr("regex '(unclosed'"));
  Json wrong_type = doc;
  wrong_type["model"]["vocab"]["a"] = "not a number";
  EXPECT_THAT(error(wrong_type.dump()), HasSubstr("is not a whole number"));
  // Numbers that are not whole, or out of range, are refused before any conversion (the
  // fuzzer found a float id: converting 8.9e37 to an integer is undefined behaviour).
  Json float_id = doc;
  float_id["model"]["vocab"]["a"] = 8.88889e37;
  EXPECT_THAT(error(float_id.dump()),
              HasSubstr("model.vocab['a']: 8.88889e+37 is not a whole number from 0 to"));
  Json fraction_id = doc;
  fraction_id["added_tokens"][0]["id"] = 1.5;
  EXPECT_THAT(error(fraction_id.dump()), HasSubstr("added_tokens[].id: 1.5 is not a whole"));
  Json huge_id = doc;
  huge_id["added_tokens"][0]["id"] = 18446744073709551615ULL;
  EXPECT_THAT(error(huge_id.dump()), HasSubstr("is not a whole number"));
  Json strip = doc;
  strip["decoder"] = {{"type", "Strip"}, {"content", " "}, {"start", -1}, {"stop", 0}};
  EXPECT_THAT(error(strip.dump()), HasSubstr("decoder.start: -1 is not a whole number"));
}

}  // namespace
}  // namespace moe::worker
