// Id-for-id equality with the reference implementation — Hugging Face `tokenizers`, the Rust
// library that writes every tokenizer.json, pinned in the venv — run by
// tests/reference/tokenizer_reference.py. The script builds one tokenizer.json per family with
// the library itself (each component configured, a small BPE trained on the shipped data);
// every family we implement must encode the 3,000-line corpus (prose, code, numbers, whitespace
// runs, many scripts) and lines that exercise added tokens id for id, and decode the same ids
// to the same text; every family we do not implement must be refused at load, naming the JSON
// path of what is not implemented. Skips when the venv lacks `tokenizers` (exit code 77).
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/data/tokenizer.h"

namespace moe::worker {
namespace {

const std::filesystem::path kSource = MOE_SOURCE_DIR;
const std::filesystem::path kScript = kSource / "tests/reference/tokenizer_reference.py";
const std::filesystem::path kCorpus = kSource / "tests/data/tokenizer_corpus.txt";

// A family of tokenizer.json the script builds, and what we must do with it.
struct Case {
  std::string name;
  bool supported;
  std::string refusal_path;  // the JSON path a refusal names
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

// The families, as tokenizer_reference.py's cases.tsv must list them.
std::vector<Case> Cases() {
  std::vector<Case> cases = {{"tiny", true, ""},  // assets/tiny-tokenizer, the demo's
                             {"gpt2", true, ""},   {"neox", true, ""}, {"prefix-space", true, ""},
                             {"llama3", true, ""}, {"nfkc", true, ""}, {"gpt4o", true, ""}};
  for (const char* behavior :
       {"removed", "isolated", "merged-with-previous", "merged-with-next", "contiguous"}) {
    cases.push_back({absl::StrCat("split-", behavior), true, ""});
    cases.push_back({absl::StrCat("split-", behavior, "-invert"), true, ""});
  }
  cases.push_back({"split-string", true, ""});  // a literal pattern, then the GPT-2 regex
  cases.push_back({"added-tokens", true, ""});
  for (const char* name : {"metaspace", "metaspace-always", "metaspace-nosplit", "llama2-legacy"}) {
    cases.push_back({name, true, ""});
  }
  cases.push_back({"unigram", false, "model.type"});
  return cases;
}

std::vector<std::string> ReadLines(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The families' files, made once per test process; empty when the reference is unavailable.
const std::filesystem::path& Made() {
  static const std::filesystem::path* const made = [] {
    auto* dir = new std::filesystem::path(std::filesystem::temp_directory_path() /
                                          absl::StrCat("moe_tokref_", getpid()));
    const std::string command =
        absl::StrCat(MOE_PYTHON " ", kScript.string(), " make ", dir->string(), " 2>&1");
    const int status = std::system(command.c_str());
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) *dir = "";
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 77) {
      ADD_FAILURE() << command << " failed";
    }
    return dir;
  }();
  return *made;
}

// Runs the reference's `mode` (encode, decode) with `c`'s file on `input`: its output lines.
std::vector<std::string> RunReference(const Case& c, const char* mode,
                                      const std::filesystem::path& input) {
  const std::filesystem::path out =
      std::filesystem::temp_directory_path() / absl::StrCat("moe_ref_", c.name, "_", getpid());
  const std::string command = absl::StrCat(MOE_PYTHON " ", kScript.string(), " ", mode, " ",
                                           (Made() / c.name / "tokenizer.json").string(), " < ",
                                           input.string(), " > ", out.string());
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
    if (Made().empty()) GTEST_SKIP() << "the tokenizers package is not in " MOE_PYTHON;
  }
};

TEST(ReferenceFamilies, TheScriptBuildsExactlyTheFamiliesThisTestChecks) {
  if (Made().empty()) GTEST_SKIP() << "the tokenizers package is not in " MOE_PYTHON;
  std::vector<std::string> listed, expected;
  for (const std::string& line : ReadLines(Made() / "cases.tsv")) listed.push_back(line);
  for (const Case& c : Cases()) {
    expected.push_back(
        absl::StrCat(c.name, "\t", c.supported ? "supported" : "refused", "\t", c.refusal_path));
  }
  EXPECT_EQ(listed, expected);
}

TEST_P(ReferenceEquality, SupportedFamiliesMatchIdForIdAndOthersAreRefusedByJsonPath) {
  const Case& c = GetParam();
  auto tokenizer = Tokenizer::FromFile(Made() / c.name / "tokenizer.json");
  if (!c.supported) {
    ASSERT_FALSE(tokenizer.ok()) << c.name << " must be refused, never mis-tokenized";
    EXPECT_THAT(std::string(tokenizer.status().message()),
                testing::HasSubstr(absl::StrCat(c.refusal_path, ": ")));
    return;
  }
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  // The corpus, then the lines that exercise added tokens and splits, as one input.
  const std::filesystem::path input =
      std::filesystem::temp_directory_path() / absl::StrCat("moe_ref_in_", c.name, "_", getpid());
  std::vector<std::string> lines = ReadLines(kCorpus);
  ASSERT_GE(lines.size(), 3000u);
  for (const std::string& line : ReadLines(Made() / "extra_lines.txt")) lines.push_back(line);
  {
    std::ofstream out(input, std::ios::binary);
    for (const std::string& line : lines) out << line << '\n';
  }
  const std::vector<std::string> expected = RunReference(c, "encode", input);
  ASSERT_EQ(expected.size(), lines.size());
  std::vector<std::string> ours;
  int mismatches = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    ours.push_back(IdsJson((*tokenizer)->Encode(lines[i])));
    if (ours.back() != expected[i] && ++mismatches <= 5) {
      ADD_FAILURE() << "line " << i + 1 << ": '" << lines[i] << "'\n  reference " << expected[i]
                    << "\n  ours      " << ours.back();
    }
  }
  EXPECT_EQ(mismatches, 0) << "of " << lines.size() << " lines";

  // Decode the same ids on both sides.
  {
    std::ofstream out(input, std::ios::binary);
    for (const std::string& line : ours) out << line << '\n';
  }
  const std::vector<std::string> decoded = RunReference(c, "decode", input);
  std::filesystem::remove(input);
  ASSERT_EQ(decoded.size(), lines.size());
  mismatches = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string text = *(*tokenizer)->Decode((*tokenizer)->Encode(lines[i]));
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
