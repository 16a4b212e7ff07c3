// moe-worker as a user runs it: help, tokenize (same ids as the library), train-tokenizer,
// data on the demo spec, and clear errors with exit codes.
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/data/tokenizer.h"

namespace moe::worker {
namespace {

using ::testing::HasSubstr;

const std::filesystem::path kSource = MOE_SOURCE_DIR;
const std::string kTokenizer = (kSource / "assets/tiny-tokenizer/tokenizer.json").string();

struct Result {
  int exit_code;
  std::string output;  // stdout and stderr
};

Result RunWorker(const std::string& args, const std::string& stdin_text = "") {
  static int calls = 0;  // each call, and each test process, gets its own input file
  const std::filesystem::path input = std::filesystem::path(::testing::TempDir()) /
                                      absl::StrCat("moe_cli_stdin_", getpid(), "_", ++calls);
  FILE* f = fopen(input.c_str(), "wb");
  fwrite(stdin_text.data(), 1, stdin_text.size(), f);
  fclose(f);
  const std::string command =
      absl::StrCat(MOE_WORKER_BIN, " ", args, " < ", input.string(), " 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  std::string output;
  std::array<char, 4096> buffer;
  while (size_t n = fread(buffer.data(), 1, buffer.size(), pipe)) output.append(buffer.data(), n);
  const int status = pclose(pipe);
  std::filesystem::remove(input);
  return {WEXITSTATUS(status), output};
}

TEST(WorkerCli, HelpListsTheCommands) {
  const Result r = RunWorker("--help");
  EXPECT_EQ(r.exit_code, 0);
  for (const char* command : {"tokenize", "train-tokenizer", "data"}) {
    EXPECT_THAT(r.output, HasSubstr(command));
  }
  EXPECT_EQ(RunWorker("").exit_code, 106);  // CLI11: a subcommand is required
}

TEST(WorkerCli, TokenizePrintsTheLibrarysIdsAndDecodesThemBack) {
  auto tok = std::move(Tokenizer::FromFile(kTokenizer)).value();
  const std::vector<std::string> lines = {"who wrote the hunchback of notre-dame",
                                          "  Zürich\t1889 <|endoftext|>\r", ""};
  const Result r =
      RunWorker("tokenize --tokenizer " + kTokenizer, absl::StrJoin(lines, "\n") + "\n");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::string expected;
  for (const std::string& line : lines) {
    absl::StrAppend(&expected, "[", absl::StrJoin(tok->Encode(line), ","), "]\n");
  }
  EXPECT_EQ(r.output, expected);
  const Result back = RunWorker("tokenize --decode --tokenizer " + kTokenizer, r.output);
  ASSERT_EQ(back.exit_code, 0) << back.output;
  EXPECT_EQ(back.output, absl::StrJoin(lines, "\n") + "\n");
}

TEST(WorkerCli, TokenizeRejectsBadInputClearly) {
  EXPECT_THAT(RunWorker("tokenize --tokenizer /nonexistent.json").output,
              HasSubstr("File does not exist"));
  const Result r = RunWorker("tokenize --decode --tokenizer " + kTokenizer, "[1,2]\nnot ids\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("stdin:2: expected a JSON array of token ids"));
}

TEST(WorkerCli, TrainTokenizerWritesALoadableTokenizer) {
  const std::string out =
      (std::filesystem::path(::testing::TempDir()) / absl::StrCat("moe_tok_", getpid(), ".json"))
          .string();
  const Result r =
      RunWorker(absl::StrCat("train-tokenizer --format qa-jsonl --vocab-size 600 --input ",
                             (kSource / "datasets/nq_sample.jsonl").string(), " --out ", out));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("wrote " + out + ": 600 tokens"));
  auto tok = Tokenizer::FromFile(out);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ(*(*tok)->Decode((*tok)->Encode("Question: why is the sky blue")),
            "Question: why is the sky blue");
}

TEST(WorkerCli, DataReportsPackingEfficiencyOfTheDemoJob) {
  const Result r = RunWorker("data --spec " + (kSource / "configs/jobs/tiny-cpu.yaml").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("400 samples"));
  EXPECT_THAT(r.output, HasSubstr("factual_lookup 100"));
  EXPECT_THAT(r.output, HasSubstr("packed (this job):"));
  EXPECT_THAT(r.output, HasSubstr("padded:"));
}

TEST(WorkerCli, DataNamesSpecProblems) {
  const std::filesystem::path spec =
      std::filesystem::path(::testing::TempDir()) / absl::StrCat("moe_bad_", getpid(), ".yaml");
  FILE* f = fopen(spec.c_str(), "w");
  fputs("name: x\ntraining:\n  micro_batch: 4\n", f);
  fclose(f);
  const Result r = RunWorker("data --spec " + spec.string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr(".yaml:3: training.micro_batch: unknown field"));
}

}  // namespace
}  // namespace moe::worker
