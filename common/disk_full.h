// A write that failed for lack of space (ENOSPC, EDQUOT) is its own kind of error: moe-worker
// exits with kExitDiskFull rather than as a crash (or as out of memory, whose status code it
// shares), and moed waits for space instead of retrying. The mark is a status payload.
#ifndef MOE_COMMON_DISK_FULL_H_
#define MOE_COMMON_DISK_FULL_H_

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace moe::common {

inline constexpr char kDiskFullPayload[] = "type.moetrain.dev/disk_full";

// ResourceExhausted with `message`, marked as disk full.
inline absl::Status DiskFullError(const std::string& message) {
  absl::Status status = absl::ResourceExhaustedError(message);
  status.SetPayload(kDiskFullPayload, absl::Cord("1"));
  return status;
}

// "path: what: strerror(error_number)"; ResourceExhausted marked as disk full for ENOSPC and
// EDQUOT, Internal otherwise.
inline absl::Status FileError(const std::filesystem::path& path, const char* what,
                              int error_number) {
  const std::string message =
      absl::StrCat(path.string(), ": ", what, ": ", std::strerror(error_number));
  if (error_number != ENOSPC && error_number != EDQUOT) return absl::InternalError(message);
  return DiskFullError(message);
}

inline bool IsDiskFull(const absl::Status& status) {
  return status.GetPayload(kDiskFullPayload).has_value();
}

}  // namespace moe::common

#endif  // MOE_COMMON_DISK_FULL_H_
