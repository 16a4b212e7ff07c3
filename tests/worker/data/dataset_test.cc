// Dataset: answer forms, prompt rendering and loss boundaries, truncation, bad lines in
// error and skip modes, expert labels.
#include "worker/data/dataset.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/test_data.h"
#include "worker/data/batch.h"

namespace moe::worker {
namespace {

using testing::DataSpecFor;
using ::testing::HasSubstr;
using testing::TinyTokenizer;
using testing::WriteFile;

const std::vector<std::string> kExperts = {"factual_lookup", "numerical_reasoning",
                                           "multi_hop_reasoning", "commonsense_reasoning"};

std::string Text(const Tokenizer& tok, absl::Span<const int32_t> ids) {
  return *tok.Decode(std::vector<int32_t>(ids.begin(), ids.end()));
}

TEST(Dataset, EachAnswerFormBecomesTheAnswerText) {
  auto tok = TinyTokenizer();
  const std::string file = WriteFile(
      "forms.jsonl", R"({"question": "q1", "answer": "Paris", "expert_label": "factual_lookup"}
{"question": "q2", "answer": ["1889", "March 1889"], "expert_label": "numerical_reasoning"}

{"question": "q3", "answer": {"text": "Victor Hugo"}, "expert_label": "multi_hop_reasoning", "id": 7}
)");
  auto data = Dataset::Load(DataSpecFor(file), *tok, kExperts);
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ((*data)->size(), 3u);
  const std::vector<std::string> answers = {" Paris", " 1889, March 1889", " Victor Hugo"};
  const std::vector<std::string> questions = {"q1", "q2", "q3"};
  for (size_t i = 0; i < 3; ++i) {
    const SampleView s = (*data)->sample(i);
    EXPECT_EQ(Text(*tok, s.ids.subspan(0, s.loss_start)),
              "Question: " + questions[i] + "\nAnswer:");
    EXPECT_EQ(Text(*tok, s.ids.subspan(s.loss_start)), answers[i] + "<|endoftext|>");
    EXPECT_EQ(s.expert, static_cast<int32_t>(i));
  }
  EXPECT_EQ((*data)->stats().lines, 3);  // the blank line is not a record
}

TEST(Dataset, LabelsCoverExactlyTheAnswerTokens) {
  auto tok = TinyTokenizer();
  const std::string file = WriteFile(
      "mask.jsonl",
      R"({"question": "how many moons does mars have", "answer": "two", "expert_label": "numerical_reasoning"})");
  auto data = std::move(Dataset::Load(DataSpecFor(file), *tok, kExperts)).value();
  const SampleView s = data->sample(0);
  Batch batch;
  batch.Reset(1, 64, data->eos_id());
  batch.Place(0, 0, 1, 0, s);
  std::vector<int32_t> predicted;
  for (int t = 0; t < 64; ++t) {
    if (batch.labels[t] == kIgnoreLabel) continue;
    // Every supervised position predicts the token that follows it, inside the answer.
    EXPECT_EQ(batch.labels[t], batch.input_ids[t + 1]);
    EXPECT_GE(t + 1, s.loss_start);
    predicted.push_back(batch.labels[t]);
  }
  EXPECT_EQ(*tok->Decode(predicted), " two<|endoftext|>");
  EXPECT_EQ(batch.loss_tokens, static_cast<int64_t>(predicted.size()));
}

TEST(Dataset, TruncatesAnswerThenPrompt) {
  auto tok = TinyTokenizer();
  std::string long_answer, long_question;
  for (int i = 0; i < 60; ++i) long_answer += " word";
  for (int i = 0; i < 60; ++i) long_question += " what";
  const std::string file =
      WriteFile("long.jsonl", "{\"question\": \"" + long_question + "\", \"answer\": \"" +
                                  long_answer + "\", \"expert_label\": \"factual_lookup\"}\n");
  moe::v1::DataSpec spec = DataSpecFor(file);
  spec.set_max_target_len(10);
  spec.set_max_seq_len(32);
  auto data = std::move(Dataset::Load(spec, *tok, kExperts)).value();
  const SampleView s = data->sample(0);
  EXPECT_EQ(s.ids.size(), 32u);
  EXPECT_EQ(s.ids.size() - s.loss_start, 11u);  // 10 answer tokens + EOS
  EXPECT_EQ(s.ids.back(), data->eos_id());
  EXPECT_EQ(data->stats().answers_truncated, 1);
  EXPECT_EQ(data->stats().prompts_truncated, 1);

  spec.set_max_target_len(32);  // no room left for the prompt: refused, not underflowed
  EXPECT_THAT(std::string(Dataset::Load(spec, *tok, kExperts).status().message()),
              HasSubstr("data.max_target_len must be > 0 and < data.max_seq_len"));
}

TEST(Dataset, BadLineIsAnErrorNamingFileAndLine) {
  auto tok = TinyTokenizer();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{\"question\": \"q\", \"answer\": \"a\", \"expert_label\": \"factual_lookup\"",
       "not valid JSON"},
      {"[1, 2]", "expected a JSON object"},
      {"{\"answer\": \"a\", \"expert_label\": \"factual_lookup\"}",
       "\"question\" must be a string"},
      {"{\"question\": \"q\", \"expert_label\": \"factual_lookup\"}", "\"answer\" is missing"},
      {"{\"question\": \"q\", \"answer\": 5, \"expert_label\": \"factual_lookup\"}",
       "answer must be a string"},
      {"{\"question\": \"q\", \"answer\": [\"a\", 1], \"expert_label\": \"factual_lookup\"}",
       "answer list must hold strings"},
      {"{\"question\": \"q\", \"answer\": \"\", \"expert_label\": \"factual_lookup\"}",
       "\"answer\" is empty"},
      {"{\"question\": \"q\", \"answer\": \"a\", \"expert_label\": \"poetry\"}",
       "expert_label 'poetry' is not one of factual_lookup"},
      {"{\"question\": \"q\", \"answer\": \"a\"}", "\"expert_label\" is missing"},
      {"{\"question\": \"q\xff\", \"answer\": \"a\", \"expert_label\": \"factual_lookup\"}",
       "not valid JSON (or not UTF-8)"},
  };
  const std::string good = R"({"question": "q", "answer": "a", "expert_label": "factual_lookup"})";
  for (const auto& [line, message] : cases) {
    const std::string file = WriteFile("bad.jsonl", good + "\n" + good + "\n" + line + "\n");
    auto data = Dataset::Load(DataSpecFor(file), *tok, kExperts);
    ASSERT_FALSE(data.ok()) << line;
    EXPECT_EQ(data.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(data.status().message()), HasSubstr(file + ":3: " + message)) << line;
  }
}

TEST(Dataset, SkipInvalidCountsAndSkipsBadLines) {
  auto tok = TinyTokenizer();
  const std::string file =
      WriteFile("skip.jsonl", R"({"question": "q", "answer": "a", "expert_label": "factual_lookup"}
not json
{"question": "q", "answer": "a", "expert_label": "nope"}
{"question": "q2", "answer": "b", "expert_label": "commonsense_reasoning"}
)");
  moe::v1::DataSpec spec = DataSpecFor(file);
  spec.set_skip_invalid(true);
  auto data = Dataset::Load(spec, *tok, kExperts);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ((*data)->size(), 2u);
  EXPECT_EQ((*data)->stats().skipped, 2);
  EXPECT_EQ((*data)->stats().lines, 4);
  EXPECT_EQ((*data)->stats().per_expert, (std::vector<int64_t>{1, 0, 0, 1}));
}

TEST(Dataset, MaxSamplesAndEmptyFiles) {
  auto tok = TinyTokenizer();
  moe::v1::DataSpec spec = DataSpecFor((testing::kSourceDir / "datasets/nq_sample.jsonl").string());
  spec.set_max_samples(25);
  auto data = Dataset::Load(spec, *tok, kExperts);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ((*data)->size(), 25u);
  EXPECT_THAT(
      std::string(Dataset::Load(DataSpecFor(WriteFile("empty.jsonl", "\n\n")), *tok, kExperts)
                      .status()
                      .message()),
      HasSubstr("no valid samples"));
  EXPECT_EQ(Dataset::Load(DataSpecFor("/nonexistent.jsonl"), *tok, kExperts).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(Dataset, ShippedSampleCoversAllFourExperts) {
  auto tok = TinyTokenizer();
  auto data = Dataset::Load(
      DataSpecFor((testing::kSourceDir / "datasets/nq_sample.jsonl").string()), *tok, kExperts);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_GE((*data)->size(), 300u);
  for (int64_t count : (*data)->stats().per_expert) EXPECT_GE(count, 50);
}

}  // namespace
}  // namespace moe::worker
