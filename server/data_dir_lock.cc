#include "server/data_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace moe::server {

absl::StatusOr<std::unique_ptr<DataDirLock>> DataDirLock::Acquire(
    const std::filesystem::path& dir) {
  const std::filesystem::path path = dir / "moed.lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("cannot open ", path.string(), ": ", strerror(errno)));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    std::string holder(32, '\0');
    const ssize_t got = ::pread(fd, holder.data(), holder.size(), 0);
    holder.resize(got > 0 ? static_cast<size_t>(got) : 0);
    ::close(fd);
    if (error != EWOULDBLOCK) {
      return absl::InternalError(
          absl::StrCat("cannot lock ", path.string(), ": ", strerror(error)));
    }
    const std::string pid(absl::StripAsciiWhitespace(holder));
    return absl::FailedPreconditionError(absl::StrCat(
        "data directory ", dir.string(), " is in use by another moed (pid ",
        pid.empty() ? "unknown" : pid, "): stop it first, or give this one its own --data-dir"));
  }
  const std::string pid = absl::StrCat(getpid(), "\n");
  // Failing to write the pid is safe: the lock holds regardless; only the next one's message
  // would lack it.
  if (::ftruncate(fd, 0) == 0) (void)!::pwrite(fd, pid.data(), pid.size(), 0);
  return std::unique_ptr<DataDirLock>(new DataDirLock(fd));
}

DataDirLock::~DataDirLock() { ::close(fd_); }

}  // namespace moe::server
