#include "common/hashing_writer.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/disk_full.h"

namespace moe::common {
namespace {

// MOE_FAULT_WRITE_BYTES_PER_S, read once: 0 when unset (no throttle).
double ThrottleBytesPerSecond() {
  static const double rate = [] {
    const char* text = std::getenv("MOE_FAULT_WRITE_BYTES_PER_S");
    double value = 0;
    return text != nullptr && absl::SimpleAtod(text, &value) && value > 0 ? value : 0.0;
  }();
  return rate;
}

bool Cancelled(const std::atomic<bool>* cancel) { return cancel != nullptr && cancel->load(); }

// Sleeps until `bytes` written since `start` are no faster than the throttle, or until
// cancelled.
void Throttle(std::chrono::steady_clock::time_point start, uint64_t bytes,
              const std::atomic<bool>* cancel) {
  const double rate = ThrottleBytesPerSecond();
  if (rate <= 0) return;
  const auto until = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                 std::chrono::duration<double>(static_cast<double>(bytes) / rate));
  while (!Cancelled(cancel) && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        std::chrono::milliseconds(20), until - std::chrono::steady_clock::now()));
  }
}

}  // namespace

struct HashingWriter::Hash {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx{EVP_MD_CTX_new(), &EVP_MD_CTX_free};
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

absl::StatusOr<std::unique_ptr<HashingWriter>> HashingWriter::Create(
    const std::filesystem::path& path, const std::atomic<bool>* cancel) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return FileError(path, "create", errno);
  return std::unique_ptr<HashingWriter>(new HashingWriter(path, fd, cancel));
}

HashingWriter::HashingWriter(std::filesystem::path path, int fd, const std::atomic<bool>* cancel)
    : path_(std::move(path)),
      fd_(fd),
      cancel_(cancel),
      hash_(std::make_unique<Hash>()),
      chunk_(static_cast<char*>(std::aligned_alloc(4096, kChunkBytes)), &std::free) {
  EVP_DigestInit_ex(hash_->ctx.get(), EVP_sha256(), nullptr);
}

HashingWriter::~HashingWriter() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status HashingWriter::Write(const char* data, size_t bytes) {
  if (Cancelled(cancel_)) {
    return absl::CancelledError(absl::StrCat(path_.string(), ": the write was cancelled"));
  }
  EVP_DigestUpdate(hash_->ctx.get(), data, bytes);
  const uint64_t offset = written_;
  for (size_t done = 0; done < bytes;) {
    const ssize_t n = ::write(fd_, data + done, bytes - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FileError(path_, "write", errno);
    if (n == 0) return FileError(path_, "write", EIO);
    done += static_cast<size_t>(n);
  }
  written_ += bytes;
  // Start the disk on this range now; Finish's fsync waits for whatever is still in flight.
  ::sync_file_range(fd_, static_cast<off64_t>(offset), static_cast<off64_t>(bytes),
                    SYNC_FILE_RANGE_WRITE);
  Throttle(hash_->started, written_, cancel_);
  return absl::OkStatus();
}

absl::Status HashingWriter::Append(const void* data, size_t bytes) {
  const char* next = static_cast<const char*>(data);
  while (bytes > 0) {
    if (buffered_ == 0 && bytes >= kChunkBytes) {  // whole chunks straight from the caller
      const size_t whole = bytes - bytes % kChunkBytes;
      for (size_t done = 0; done < whole; done += kChunkBytes) {
        if (absl::Status s = Write(next + done, kChunkBytes); !s.ok()) return s;
      }
      next += whole;
      bytes -= whole;
      continue;
    }
    const size_t take = std::min(bytes, kChunkBytes - buffered_);
    std::memcpy(chunk_.get() + buffered_, next, take);
    buffered_ += take;
    next += take;
    bytes -= take;
    if (buffered_ == kChunkBytes) {
      if (absl::Status s = Write(chunk_.get(), buffered_); !s.ok()) return s;
      buffered_ = 0;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<FileDigest> HashingWriter::Finish() {
  if (Cancelled(cancel_)) {
    return absl::CancelledError(absl::StrCat(path_.string(), ": the write was cancelled"));
  }
  if (buffered_ > 0) {
    if (absl::Status s = Write(chunk_.get(), buffered_); !s.ok()) return s;
    buffered_ = 0;
  }
  if (::fsync(fd_) != 0) return FileError(path_, "fsync", errno);
  const int closed = ::close(fd_);
  fd_ = -1;
  if (closed != 0) return FileError(path_, "close", errno);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(hash_->ctx.get(), digest, &length);
  return FileDigest{written_, absl::BytesToHexString(absl::string_view(
                                  reinterpret_cast<const char*>(digest), length))};
}

}  // namespace moe::common
