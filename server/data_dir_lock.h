// One moed per data directory: an exclusive flock(2) on <data dir>/moed.lock, held for the
// process's life (released by the kernel when it exits, however it exits), with the holder's
// pid written in the file for the next one's message. Not inherited by workers (close-on-exec).
#ifndef MOE_SERVER_DATA_DIR_LOCK_H_
#define MOE_SERVER_DATA_DIR_LOCK_H_

#include <filesystem>
#include <memory>

#include "absl/status/statusor.h"

namespace moe::server {

class DataDirLock {
 public:
  // FailedPrecondition naming the directory and the holder's pid when another process holds
  // it; Internal when the lock file cannot be opened.
  static absl::StatusOr<std::unique_ptr<DataDirLock>> Acquire(const std::filesystem::path& dir);
  ~DataDirLock();
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;

 private:
  explicit DataDirLock(int fd) : fd_(fd) {}
  const int fd_;
};

}  // namespace moe::server

#endif  // MOE_SERVER_DATA_DIR_LOCK_H_
