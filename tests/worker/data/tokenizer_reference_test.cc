// Id-for-id equality with the reference implementation (Tokenizers.js, run by node from
// tests/reference/) on a 3,000-line corpus of prose, code, numbers, whitespace runs and many
// scripts, for every real tokenizer.json the reference packages ship plus our own demo
// tokenizer; and decode equality on the same ids. Skips when node or the reference packages
// (npm ci in tests/reference) are absent.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "worker/data/tokenizer.h"

namespace moe::worker {
namespace {

const std::filesystem::path kSource = MOE_SOURCE_DIR;
const std::filesystem::path kReference = kSource / "tests/reference";
const std::filesystem::path kCorpus = kSource / "tests/data/tokenizer_corpus.txt";

struct Case {
  std::string name;
  std::filesystem::path tokenizer;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

// The tokenizers listed in tests/reference/tokenizers.txt, and the demo tokenizer.
std::vector<Case> Cases() {
  std::vector<Case> cases = {{"tiny", kSource / "assets/tiny-tokenizer/tokenizer.json"}};
  std::ifstream in(kReference / "tokenizers.txt");
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> parts = absl::StrSplit(line, '\t');
    if (parts.size() == 2) cases.push_back({parts[0], kReference / parts[1]});
  }
  return cases;
}

std::vector<std::string> ReadLines(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Runs tokenize.mjs on `input`, returning its output lines.
std::vector<std::string> RunReference(const Case& c, const std::filesystem::path& input,
                                      bool decode) {
  const std::filesystem::path out =
      std::filesystem::temp_directory_path() / absl::StrCat("moe_ref_", c.name, "_", getpid());
  const std::string command =
      absl::StrCat("node ", (kReference / "tokenize.mjs").string(), " ", c.tokenizer.string(),
                   decode ? " --decode" : "", " < ", input.string(), " > ", out.string());
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  std::vector<std::string> lines = ReadLines(out);
  std::filesystem::remove(out);
  return lines;
}

std::string IdsJson(const std::vector<int32_t>& ids) {
  return absl::StrCat("[", absl::StrJoin(ids, ","), "]");
}

class ReferenceEquality : public testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    if (std::system("node --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "node not found";
    if (!std::filesystem::exists(kReference / "node_modules/@huggingface/tokenizers")) {
      GTEST_SKIP() << "reference packages not installed (npm ci in tests/reference)";
    }
    if (!std::filesystem::exists(GetParam().tokenizer)) {
      GTEST_SKIP() << GetParam().tokenizer << " not present";
    }
  }
};

TEST_P(ReferenceEquality, EncodeAndDecodeMatchTokenizersJs) {
  auto tokenizer = Tokenizer::FromFile(GetParam().tokenizer);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  const std::vector<std::string> corpus = ReadLines(kCorpus);
  ASSERT_GE(corpus.size(), 3000u);

  const std::vector<std::string> expected = RunReference(GetParam(), kCorpus, false);
  ASSERT_EQ(expected.size(), corpus.size());
  std::vector<std::string> ours;
  int mismatches = 0;
  for (size_t i = 0; i < corpus.size(); ++i) {
    ours.push_back(IdsJson((*tokenizer)->Encode(corpus[i])));
    if (ours.back() != expected[i] && ++mismatches <= 5) {
      ADD_FAILURE() << "line " << i + 1 << ": '" << corpus[i] << "'\n  reference " << expected[i]
                    << "\n  ours      " << ours.back();
    }
  }
  EXPECT_EQ(mismatches, 0) << "of " << corpus.size() << " lines";

  // Decode the same ids on both sides.
  const std::filesystem::path ids_file = std::filesystem::temp_directory_path() /
                                         absl::StrCat("moe_ids_", GetParam().name, "_", getpid());
  {
    std::ofstream out(ids_file);
    for (const std::string& line : ours) out << line << '\n';
  }
  const std::vector<std::string> decoded = RunReference(GetParam(), ids_file, true);
  std::filesystem::remove(ids_file);
  ASSERT_EQ(decoded.size(), corpus.size());
  mismatches = 0;
  for (size_t i = 0; i < corpus.size(); ++i) {
    std::vector<int32_t> ids;
    (*tokenizer)->Encode(corpus[i], &ids);
    const std::string text = *(*tokenizer)->Decode(ids);
    if (text != decoded[i] && ++mismatches <= 5) {
      ADD_FAILURE() << "decode of line " << i + 1 << ": reference '" << decoded[i] << "' ours '"
                    << text << "'";
    }
  }
  EXPECT_EQ(mismatches, 0);
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, ReferenceEquality, testing::ValuesIn(Cases()),
                         [](const testing::TestParamInfo<Case>& info) {
                           std::string name = info.param.name;
                           for (char& c : name) {
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace moe::worker
