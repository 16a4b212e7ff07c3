#include "common/durable_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "absl/strings/str_cat.h"

namespace moe::common {
namespace {

absl::Status Errno(const std::filesystem::path& path, const char* what) {
  return absl::ErrnoToStatus(errno, absl::StrCat(path.string(), ": ", what));
}

absl::Status FsyncPath(const std::filesystem::path& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return Errno(path, "open");
  const int rc = ::fsync(fd);
  const absl::Status status = rc == 0 ? absl::OkStatus() : Errno(path, "fsync");
  ::close(fd);
  return status;
}

}  // namespace

absl::Status WriteFileDurably(const std::filesystem::path& path, std::string_view contents) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno(tmp, "create");
  absl::Status status;
  for (size_t done = 0; status.ok() && done < contents.size();) {
    const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) status = Errno(tmp, "write");
    if (n > 0) done += static_cast<size_t>(n);
  }
  if (status.ok() && ::fsync(fd) != 0) status = Errno(tmp, "fsync");
  ::close(fd);
  if (status.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) status = Errno(path, "rename");
  if (!status.ok()) {
    ::unlink(tmp.c_str());
    return status;
  }
  return FsyncPath(path.parent_path().empty() ? "." : path.parent_path(), O_RDONLY | O_DIRECTORY);
}

}  // namespace moe::common
