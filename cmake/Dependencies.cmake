# Every third-party dependency is found here, once. Debian packages provide all of them;
# scripts/setup.sh installs them.
find_package(Protobuf REQUIRED)
find_package(absl REQUIRED)
find_package(spdlog REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(CLI11 REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(prometheus-cpp CONFIG REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
pkg_check_modules(UTF8PROC REQUIRED IMPORTED_TARGET libutf8proc)
if(MOE_BUILD_TESTS)
  find_package(GTest REQUIRED)
  include(GoogleTest)
endif()
# LibTorch: Debian's libtorch-dev (1.13, CPU) here; PyTorch's CUDA LibTorch on GPU machines
# (CMAKE_PREFIX_PATH from torch.utils.cmake_prefix_path).
find_package(Torch REQUIRED)
