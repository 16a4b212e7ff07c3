// HashingWriter: the size and SHA-256 it returns are those of the file it wrote, whatever the
// pattern of appends (checked against coreutils' sha256sum, an independent implementation);
// errors name the file and keep disk full apart; a cancelled writer stops.
#include "common/hashing_writer.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/disk_full.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace moe::common {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string ShellSha256(const fs::path& path) {
  FILE* pipe = popen(absl::StrCat("sha256sum ", path.string(), " | cut -c1-64").c_str(), "r");
  char line[128] = {};
  EXPECT_NE(fgets(line, sizeof(line), pipe), nullptr);
  pclose(pipe);
  std::string digest(line);
  while (!digest.empty() && digest.back() == '\n') digest.pop_back();
  return digest;
}

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 generator(seed);
  std::string bytes(n, '\0');
  for (char& c : bytes) c = static_cast<char>(generator());
  return bytes;
}

fs::path TestFile(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / "moe_hashing_writer_test";
  fs::create_directories(dir);
  return dir / name;
}

TEST(HashingWriter, DigestIsTheWrittenFilesWhateverTheAppends) {
  constexpr size_t kChunk = HashingWriter::kChunkBytes;
  const std::string data = RandomBytes(2 * kChunk + kChunk / 3 + 17, 7);
  struct Pattern {
    std::string name;
    std::vector<size_t> pieces;  // sizes of consecutive appends; the rest in one
  };
  const std::vector<Pattern> patterns = {
      {"empty", {}},
      {"one_append", {data.size()}},
      {"small_then_huge", {1, 100, 4095}},  // a large append while the chunk is part full
      {"chunk_aligned", {kChunk, kChunk}},
      {"many_small", std::vector<size_t>(5000, 257)},
  };
  for (const Pattern& pattern : patterns) {
    SCOPED_TRACE(pattern.name);
    const fs::path path = TestFile(pattern.name);
    auto writer = HashingWriter::Create(path);
    ASSERT_TRUE(writer.ok()) << writer.status();
    size_t done = 0;
    const size_t total = pattern.name == "empty" ? 0 : data.size();
    for (size_t piece : pattern.pieces) {
      piece = std::min(piece, total - done);
      ASSERT_TRUE((*writer)->Append(data.data() + done, piece).ok());
      done += piece;
    }
    ASSERT_TRUE((*writer)->Append(data.data() + done, total - done).ok());
    const auto digest = (*writer)->Finish();
    ASSERT_TRUE(digest.ok()) << digest.status();
    EXPECT_EQ(digest->bytes, total);
    EXPECT_EQ(fs::file_size(path), total);
    EXPECT_EQ(digest->sha256, ShellSha256(path));
    std::ifstream in(path, std::ios::binary);
    EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), data.substr(0, total));
  }
}

TEST(HashingWriter, AFullDiskIsMarkedAndNamesTheFile) {
  auto writer = HashingWriter::Create("/dev/full");
  if (!writer.ok()) GTEST_SKIP() << "cannot open /dev/full: " << writer.status();
  const std::string data = RandomBytes(HashingWriter::kChunkBytes + 1, 3);
  absl::Status status = (*writer)->Append(data.data(), data.size());
  if (status.ok()) status = (*writer)->Finish().status();
  ASSERT_FALSE(status.ok());
  EXPECT_TRUE(IsDiskFull(status)) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("/dev/full"));
}

TEST(HashingWriter, AFileThatCannotBeCreatedIsNamed) {
  const auto writer = HashingWriter::Create("/nonexistent-dir/file");
  ASSERT_FALSE(writer.ok());
  EXPECT_FALSE(IsDiskFull(writer.status()));
  EXPECT_THAT(std::string(writer.status().message()), HasSubstr("/nonexistent-dir/file"));
}

TEST(HashingWriter, ACancelledWriterStops) {
  std::atomic<bool> cancel{false};
  auto writer = HashingWriter::Create(TestFile("cancelled"), &cancel);
  ASSERT_TRUE(writer.ok());
  const std::string data = RandomBytes(1000, 5);
  ASSERT_TRUE((*writer)->Append(data.data(), data.size()).ok());  // buffered
  cancel = true;
  EXPECT_EQ((*writer)->Finish().status().code(), absl::StatusCode::kCancelled);
}

}  // namespace
}  // namespace moe::common
