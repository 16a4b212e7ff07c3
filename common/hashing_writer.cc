#include "common/hashing_writer.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
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

// A disk of the throttle's bandwidth shared by every writer of the process: each write holds it
// for bytes / rate seconds after the writes before it, and its writer sleeps (cancellably) until
// then.
void Throttle(uint64_t bytes, const std::atomic<bool>* cancel) {
  const double rate = ThrottleBytesPerSecond();
  if (rate <= 0) return;
  static std::mutex mu;
  static std::chrono::steady_clock::time_point free_at;
  std::chrono::steady_clock::time_point until;
  {
    const std::lock_guard<std::mutex> lock(mu);
    until = std::max(free_at, std::chrono::steady_clock::now()) +
            std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                std::chrono::duration<double>(static_cast<double>(bytes) / rate));
    free_at = until;
  }
  while (!Cancelled(cancel) && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        std::chrono::milliseconds(20), until - std::chrono::steady_clock::now()));
  }
}

}  // namespace

// The file's SHA-256, computed on a helper thread while the writer's thread writes the same
// bytes (Start, then Wait before they may change), so that a chunk costs the longer of the two,
// not their sum. Pieces below kInlineBytes are hashed at once, without the thread.
struct HashingWriter::Hash {
  static constexpr size_t kInlineBytes = size_t{1} << 20;

  Hash() { EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr); }
  ~Hash() {
    {
      const std::lock_guard<std::mutex> lock(mu);
      quit = true;
    }
    ready.notify_all();
    if (thread.joinable()) thread.join();
  }

  void Start(const char* data, size_t bytes) {
    if (bytes < kInlineBytes) {
      EVP_DigestUpdate(ctx.get(), data, bytes);
      return;
    }
    if (!thread.joinable()) thread = std::thread([this] { Run(); });
    const std::lock_guard<std::mutex> lock(mu);
    piece = data;
    piece_bytes = bytes;
    ready.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> lock(mu);
    ready.wait(lock, [this] { return piece == nullptr; });
  }
  void Run() {
    std::unique_lock<std::mutex> lock(mu);
    while (true) {
      ready.wait(lock, [this] { return quit || piece != nullptr; });
      if (quit) return;
      const char* data = piece;
      const size_t bytes = piece_bytes;
      lock.unlock();
      EVP_DigestUpdate(ctx.get(), data, bytes);  // the context is this thread's until Wait
      lock.lock();
      piece = nullptr;
      ready.notify_all();
    }
  }

  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx{EVP_MD_CTX_new(), &EVP_MD_CTX_free};
  std::mutex mu;
  std::condition_variable ready;
  const char* piece = nullptr;  // being hashed; null when done
  size_t piece_bytes = 0;
  bool quit = false;
  std::thread thread;
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
      chunk_(static_cast<char*>(std::aligned_alloc(4096, kChunkBytes)), &std::free) {}

HashingWriter::~HashingWriter() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status HashingWriter::Write(const char* data, size_t bytes) {
  if (Cancelled(cancel_)) {
    return absl::CancelledError(absl::StrCat(path_.string(), ": the write was cancelled"));
  }
  hash_->Start(data, bytes);
  absl::Status status;
  const uint64_t offset = written_;
  for (size_t done = 0; done < bytes;) {
    const ssize_t n = ::write(fd_, data + done, bytes - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      status = FileError(path_, "write", n < 0 ? errno : EIO);
      break;
    }
    done += static_cast<size_t>(n);
  }
  hash_->Wait();  // `data` may change once this returns
  if (!status.ok()) return status;
  written_ += bytes;
  // Start the disk on this range now; Finish's fsync waits for whatever is still in flight.
  ::sync_file_range(fd_, static_cast<off64_t>(offset), static_cast<off64_t>(bytes),
                    SYNC_FILE_RANGE_WRITE);
  Throttle(bytes, cancel_);
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
