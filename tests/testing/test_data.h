// Helpers shared by the data pipeline tests: the demo tokenizer and JSONL files in a
// per-test temporary directory.
#ifndef MOE_TESTS_TESTING_TEST_DATA_H_
#define MOE_TESTS_TESTING_TEST_DATA_H_

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "moe/v1/job.pb.h"
#include "worker/data/tokenizer.h"

namespace moe::worker::testing {

inline const std::filesystem::path kSourceDir = MOE_SOURCE_DIR;

inline std::unique_ptr<Tokenizer> TinyTokenizer() {
  auto tok = Tokenizer::FromFile(kSourceDir / "assets/tiny-tokenizer/tokenizer.json");
  EXPECT_TRUE(tok.ok()) << tok.status();
  return std::move(tok).value();
}

// Writes `text` to a file of this process under the test temp directory; returns its path.
inline std::string WriteFile(const std::string& name, const std::string& text) {
  const std::filesystem::path path = std::filesystem::path(::testing::TempDir()) /
                                     ("moe_" + std::to_string(getpid()) + "_" + name);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  return path.string();
}

// A DataSpec with the project's defaults for `file`.
inline moe::v1::DataSpec DataSpecFor(const std::string& file) {
  moe::v1::DataSpec spec;
  spec.set_train_file(file);
  spec.set_max_seq_len(256);
  spec.set_max_target_len(128);
  spec.set_prompt_template("Question: {question}\nAnswer: {answer}");
  spec.set_packing(true);
  return spec;
}

}  // namespace moe::worker::testing

#endif  // MOE_TESTS_TESTING_TEST_DATA_H_
