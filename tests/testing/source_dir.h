// Where the repository is, for tests that read its files (MOE_SOURCE_DIR comes from CMake).
#ifndef MOE_TESTS_TESTING_SOURCE_DIR_H_
#define MOE_TESTS_TESTING_SOURCE_DIR_H_

#include <filesystem>

namespace moe::worker::testing {

inline const std::filesystem::path kSourceDir = MOE_SOURCE_DIR;

}  // namespace moe::worker::testing

#endif  // MOE_TESTS_TESTING_SOURCE_DIR_H_
