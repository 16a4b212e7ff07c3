// Files that are whole or absent after a crash or power cut: written beside their final name,
// fsync'd, renamed into place, and the directory fsync'd.
#ifndef MOE_COMMON_DURABLE_FILE_H_
#define MOE_COMMON_DURABLE_FILE_H_

#include <filesystem>
#include <string_view>

#include "absl/status/status.h"

namespace moe::common {

// Creates `path` with `contents` (replacing any file there), durable when this returns. The
// error names the path and the system's reason (absl::ErrnoToStatus: ENOSPC is
// ResourceExhausted, EACCES PermissionDenied, ...); nothing is left at `path` then.
absl::Status WriteFileDurably(const std::filesystem::path& path, std::string_view contents);

}  // namespace moe::common

#endif  // MOE_COMMON_DURABLE_FILE_H_
