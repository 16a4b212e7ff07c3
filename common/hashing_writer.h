// Writes one file at the speed of the disk and hashes it on the way, for checkpoints: the
// manifest's SHA-256 comes from the bytes as they are written, never from reading the file
// back.
//
// Bytes are gathered into large aligned chunks (kChunkBytes; a large contiguous Append is
// taken in place, not copied). Each chunk is hashed on a helper thread while it is written with
// one write(2), then handed to the kernel's write-back at once (sync_file_range), so the disk
// writes one chunk while the next is hashed and nothing piles up in the page cache to be
// flushed at the end; Finish() fsyncs once.
//
// A writer may be given a cancel flag: once it is set, the next Append or Finish returns
// Cancelled (an abandoned save: its directory is never committed).
//
// Fault injection for tests: MOE_FAULT_WRITE_BYTES_PER_S (bytes per second, > 0) makes the
// process's writers share a disk of that bandwidth, as a slow disk would.
#ifndef MOE_COMMON_HASHING_WRITER_H_
#define MOE_COMMON_HASHING_WRITER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace moe::common {

// A written file as the manifest records it.
struct FileDigest {
  uint64_t bytes = 0;
  std::string sha256;  // lower-case hex
};

class HashingWriter {
 public:
  static constexpr size_t kChunkBytes = size_t{16} << 20;

  // Creates (or truncates) `path`. Errors name the path and the system's reason; lack of space
  // is marked disk full (common/disk_full.h), as for every write below. `cancel` (may be null)
  // must outlive the writer.
  static absl::StatusOr<std::unique_ptr<HashingWriter>> Create(
      const std::filesystem::path& path, const std::atomic<bool>* cancel = nullptr);
  // Closes the file; one not Finish()ed is left incomplete and unsynced (the caller removes it).
  ~HashingWriter();

  HashingWriter(const HashingWriter&) = delete;
  HashingWriter& operator=(const HashingWriter&) = delete;

  absl::Status Append(const void* data, size_t bytes);
  // Writes what is buffered, fsyncs, and returns the file's size and SHA-256. Nothing may be
  // appended after it.
  absl::StatusOr<FileDigest> Finish();

 private:
  struct Hash;  // OpenSSL's digest context (kept out of this header)
  HashingWriter(std::filesystem::path path, int fd, const std::atomic<bool>* cancel);
  // Hashes and writes `bytes` at the file's end (a whole chunk, or the last piece).
  absl::Status Write(const char* data, size_t bytes);

  const std::filesystem::path path_;
  int fd_;
  const std::atomic<bool>* const cancel_;
  std::unique_ptr<Hash> hash_;
  std::unique_ptr<char, void (*)(void*)> chunk_;  // kChunkBytes, page-aligned
  size_t buffered_ = 0;                           // bytes of chunk_ in use
  uint64_t written_ = 0;                          // bytes written to the file
};

}  // namespace moe::common

#endif  // MOE_COMMON_HASHING_WRITER_H_
