// BPE trainer: learns the most frequent pairs first, respects vocab size and min frequency,
// and writes a tokenizer.json that loads and round-trips.
#include "worker/data/bpe_trainer.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/data/tokenizer.h"

namespace moe::worker {
namespace {

std::unique_ptr<Tokenizer> Load(const nlohmann::json& json) {
  auto tok = Tokenizer::FromJson(json.dump(), "trained");
  EXPECT_TRUE(tok.ok()) << tok.status();
  return std::move(tok).value();
}

TEST(BpeTrainer, MergesTheMostFrequentPairFirst) {
  BpeTrainerOptions options;
  options.vocab_size = 2 + 256 + 3;
  BpeTrainer trainer(options);
  // Words: "hug" x10, "pug" x5, "pun" x12, "bun" x4 (the classic example). Pair counts:
  // "u g" 15, "u n" 16, "p u" 17, "h u" 10, "b u" 4. First merge: "p u" (17).
  for (int i = 0; i < 10; ++i) trainer.Add("hug");
  for (int i = 0; i < 5; ++i) trainer.Add("pug");
  for (int i = 0; i < 12; ++i) trainer.Add("pun");
  for (int i = 0; i < 4; ++i) trainer.Add("bun");
  auto json = trainer.Train();
  ASSERT_TRUE(json.ok()) << json.status();
  const nlohmann::json& merges = (*json)["model"]["merges"];
  ASSERT_EQ(merges.size(), 3u);
  EXPECT_EQ(merges[0], "p u");
  // After "pu": "u g" 10 (hug) and "pu g" 5, "pu n" 12, "u n" 4: next is "pu n" (12).
  EXPECT_EQ(merges[1], "pu n");
  EXPECT_EQ(merges[2], "h u");  // "h u" 10 ties "u g" 10: the smaller pair wins
  auto tok = Load(*json);
  EXPECT_EQ(tok->Encode("pun").size(), 1u);
  EXPECT_EQ(tok->Encode("hug").size(), 2u);
  EXPECT_EQ(tok->TokenToId("<|endoftext|>"), 0);
  EXPECT_EQ(tok->TokenToId("<|padding|>"), 1);
}

TEST(BpeTrainer, StopsAtVocabSizeOrMinFrequencyAndRoundTrips) {
  BpeTrainerOptions options;
  options.vocab_size = 300;
  BpeTrainer trainer(options);
  const std::string text = "the quick brown fox jumps over the lazy dog; Zürich 東京 1234";
  for (int i = 0; i < 3; ++i) trainer.Add(text);
  auto json = trainer.Train();
  ASSERT_TRUE(json.ok());
  EXPECT_LE((*json)["model"]["vocab"].size(), 300u);
  auto tok = Load(*json);
  EXPECT_EQ(*tok->Decode(tok->Encode(text)), text);
  EXPECT_LT(tok->Encode(text).size(), text.size());  // it compresses

  options.min_frequency = 7;  // no pair occurs more than 6 times ("th" of two "the"s x3)
  BpeTrainer rare(options);
  for (int i = 0; i < 3; ++i) rare.Add(text);
  EXPECT_TRUE((*rare.Train())["model"]["merges"].empty());
}

TEST(BpeTrainer, RejectsAVocabularyTooSmallForTheBytes) {
  BpeTrainerOptions options;
  options.vocab_size = 100;
  EXPECT_EQ(BpeTrainer(options).Train().status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace moe::worker
