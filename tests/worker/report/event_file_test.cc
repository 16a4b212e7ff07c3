// TensorBoard event files: CRC-32C against RFC 3720's test vectors, and our writer's bytes
// against an independent encoder (tfrecord_reference.py: the crc32c package and hand-written
// protobuf wire format) for the same events.
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "worker/report/event_file_writer.h"

namespace moe::worker {
namespace {

namespace fs = std::filesystem;

std::string ReadBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

TEST(Crc32c, MatchesTheRfc3720TestVectors) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  std::string ascending;
  for (int i = 0; i < 32; ++i) ascending.push_back(static_cast<char>(i));
  EXPECT_EQ(Crc32c(ascending), 0x46DD794Eu);
  // Masking rotates right by 15 and adds TFRecord's constant.
  const uint32_t crc = 0xE3069283u;
  EXPECT_EQ(MaskedCrc32c("123456789"), ((crc >> 15) | (crc << 17)) + 0xa282ead8u);
}

TEST(EventFileWriter, WritesTheSameBytesAsAnIndependentEncoder) {
  const fs::path dir = fs::path(::testing::TempDir()) / absl::StrCat("moe_tb_", getpid());
  fs::remove_all(dir);
  auto writer = EventFileWriter::Create(dir, 1700000000.25);
  ASSERT_TRUE(writer.ok()) << writer.status();
  nlohmann::json events = nlohmann::json::array(
      {{{"wall_time", 1700000000.25}, {"step", 0}, {"file_version", "brain.Event:2"}}});
  const std::vector<std::tuple<std::string, int64_t, float>> scalars = {
      {"train/loss", 1, 2.5f},
      {"train/learning_rate", 1, 1e-4f},
      {"train/loss", 300, 0.125f},
      {"moe/layer_3/expert_1_share", 70000, 0.0f},
      {"train/epoch_loss", 1 << 20, -1.75f}};
  double wall = 1700000001.5;
  for (const auto& [tag, step, value] : scalars) {
    ASSERT_TRUE((*writer)->WriteScalar(tag, step, value, wall).ok());
    events.push_back({{"wall_time", wall}, {"step", step}, {"tag", tag}, {"value", value}});
    wall += 0.75;
  }
  const fs::path spec = dir / "events.json", reference = dir / "reference.tfevents";
  std::ofstream(spec) << events.dump();
  const std::string script = fs::path(MOE_SOURCE_DIR) / "tests/worker/report/tfrecord_reference.py";
  ASSERT_EQ(std::system(absl::StrCat(MOE_PYTHON " ", script, " write ", reference.string(), " ",
                                     spec.string())
                            .c_str()),
            0);
  const std::string ours = ReadBytes((*writer)->path()), theirs = ReadBytes(reference);
  ASSERT_FALSE(theirs.empty());
  EXPECT_EQ(ours.size(), theirs.size());
  EXPECT_TRUE(ours == theirs) << "event files differ";
  EXPECT_EQ((*writer)->path().filename().string().rfind("events.out.tfevents.1700000000.", 0), 0u);
}

}  // namespace
}  // namespace moe::worker
