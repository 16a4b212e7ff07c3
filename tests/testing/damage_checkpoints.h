// Damages a job's newest checkpoints on disk while moed is down, as a disk that lost a byte
// would: the newest one the catalogue holds, and any newer one committed but never reported
// (which moed would otherwise adopt instead); those already damaged are left alone.
#ifndef MOE_TESTS_TESTING_DAMAGE_CHECKPOINTS_H_
#define MOE_TESTS_TESTING_DAMAGE_CHECKPOINTS_H_

#include <filesystem>
#include <fstream>
#include <vector>

#include "common/checkpoint_manifest.h"
#include "gtest/gtest.h"
#include "server/catalogue.h"

namespace moe::server::testing {

struct Damaged {
  moe::v1::Checkpoint newest;  // the newest catalogued one (empty if none)
  std::vector<int64_t> steps;  // every step whose model was damaged
};

// Flips one bit of a byte near the end of `path` (in its data, so sizes stay the same).
inline void FlipAByte(const std::filesystem::path& path) {
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  file.seekg(-16, std::ios::end);
  char byte = 0;
  file.read(&byte, 1);
  byte = static_cast<char>(byte ^ 0x20);
  file.seekp(-16, std::ios::end);
  file.write(&byte, 1);
}

// moed must not be running (the catalogue is read directly).
inline Damaged DamageNewestCheckpoints(const std::filesystem::path& data_dir, int64_t job,
                                       const std::filesystem::path& output_dir) {
  Damaged damaged;
  {
    auto catalogue = Catalogue::Open((data_dir / "moed.db").string());
    EXPECT_TRUE(catalogue.ok()) << catalogue.status();
    if (!catalogue.ok()) return damaged;
    const auto known = (*catalogue)->ListCheckpoints(job);
    if (known.ok() && !known->empty()) damaged.newest = known->front();
  }
  for (const auto& [step, dir] : common::CheckpointDirs(output_dir)) {
    if (step < damaged.newest.step()) break;
    // One damaged before (and set aside) stays as it is: flipping its byte back would heal it.
    if (!common::VerifyCheckpoint(dir).ok()) continue;
    FlipAByte(dir / "model.safetensors");
    damaged.steps.push_back(step);
  }
  return damaged;
}

}  // namespace moe::server::testing

#endif  // MOE_TESTS_TESTING_DAMAGE_CHECKPOINTS_H_
