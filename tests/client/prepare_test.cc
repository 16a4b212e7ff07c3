// moectl prepare: each labelling rule, every answer form the data pipeline takes, labels kept
// or replaced, and a malformed record named by file and line with no output left behind.
#include "client/prepare.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

#include "client/expert_labeler.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace moe::client {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

TEST(ExpertLabeler, EachRuleInItsOrder) {
  const ExpertLabeler labeler;
  EXPECT_EQ(labeler.Label("how many moons does mars have", "2"), "numerical_reasoning");
  EXPECT_EQ(labeler.Label("what is the atomic number of carbon", "6"), "numerical_reasoning");
  EXPECT_EQ(labeler.Label("when did apollo 11 land", "July 1969"), "numerical_reasoning");
  EXPECT_EQ(labeler.Label("who painted the mona lisa", "1503"), "numerical_reasoning");
  EXPECT_EQ(labeler.Label("which is older, rome or athens", "Athens"), "multi_hop_reasoning");
  EXPECT_EQ(labeler.Label("is the nile longer than the amazon", "yes"), "multi_hop_reasoning");
  EXPECT_EQ(labeler.Label("what do Marie Curie and Pierre Curie share", "a Nobel prize"),
            "multi_hop_reasoning");
  EXPECT_EQ(labeler.Label("why is the sky blue", "Rayleigh scattering"), "commonsense_reasoning");
  EXPECT_EQ(labeler.Label("what causes the tides", "the moon"), "commonsense_reasoning");
  EXPECT_EQ(labeler.Label("who wrote the hunchback of notre-dame", "Victor Hugo"),
            "factual_lookup");
  // "how many" is numerical although it starts with "how"; "and" between lower-case words is
  // not two names.
  EXPECT_EQ(labeler.Label("how much does a blue whale weigh", "up to 199 tonnes"),
            "numerical_reasoning");
  EXPECT_EQ(labeler.Label("who sang rock and roll all nite", "Kiss"), "factual_lookup");
}

fs::path Temp(const std::string& name) {
  return fs::path(::testing::TempDir()) / ("moe_prepare_" + std::to_string(getpid()) + name);
}

std::vector<nlohmann::json> ReadJsonl(const fs::path& path) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

TEST(Prepare, LabelsEveryAnswerFormAndKeepsExistingLabels) {
  const fs::path in = Temp("in.jsonl"), out = Temp("out.jsonl");
  std::ofstream(in) << R"({"question": "how many legs does a spider have", "answer": "8"})"
                    << "\n\n"
                    << R"({"question": "why do cats purr", "answer": ["comfort", "healing"]})"
                    << "\n"
                    << R"({"question": "who wrote emma", "answer": {"text": "Jane Austen"}, )"
                    << R"("id": 7})"
                    << "\n"
                    << R"({"question": "who wrote persuasion", "answer": "Jane Austen", )"
                    << R"("expert_label": "multi_hop_reasoning"})"
                    << "\n";
  auto result = PrepareDataset(in, out, /*relabel=*/false);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->records, 4);
  EXPECT_EQ(result->kept, 1);
  const auto lines = ReadJsonl(out);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0]["expert_label"], "numerical_reasoning");
  EXPECT_EQ(lines[1]["expert_label"], "commonsense_reasoning");
  EXPECT_EQ(lines[1]["answer"], nlohmann::json({"comfort", "healing"}));  // form kept
  EXPECT_EQ(lines[2]["expert_label"], "factual_lookup");
  EXPECT_EQ(lines[2]["id"], 7);  // other keys kept
  EXPECT_EQ(lines[3]["expert_label"], "multi_hop_reasoning");
  EXPECT_EQ(result->labels.at("factual_lookup"), 1);
  const std::string histogram = Histogram(*result);
  EXPECT_THAT(histogram, HasSubstr("4 records (1 kept their label)"));
  EXPECT_THAT(histogram, HasSubstr("numerical_reasoning          1   25.0%"));

  result = PrepareDataset(in, out, /*relabel=*/true);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(ReadJsonl(out)[3]["expert_label"], "factual_lookup");
}

TEST(Prepare, AMalformedRecordIsNamedAndLeavesNoOutput) {
  const fs::path in = Temp("bad.jsonl"), out = Temp("bad_out.jsonl");
  fs::remove(out);
  std::ofstream(in) << R"({"question": "q", "answer": "a"})"
                    << "\n"
                    << R"({"question": "q2", "answer": 42})"
                    << "\n";
  const auto result = PrepareDataset(in, out, false);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("bad.jsonl:2: "));
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out.string() + ".tmp"));
}

}  // namespace
}  // namespace moe::client
