#include "common/worker_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/random.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace moe::common {

std::string NewWorkerSecret() {
  std::array<char, 32> bytes;
  size_t filled = 0;
  while (filled < bytes.size()) {
    const ssize_t got = getrandom(bytes.data() + filled, bytes.size() - filled, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      // No kernel randomness: a predictable secret would let anyone report for the job.
      spdlog::critical("getrandom failed: {}", std::strerror(errno));
      std::abort();
    }
    filled += static_cast<size_t>(got);
  }
  return absl::BytesToHexString(absl::string_view(bytes.data(), bytes.size()));
}

std::string WorkerToken(absl::string_view secret, int64_t job_id, int64_t attempt_id, int rank) {
  const std::string text =
      absl::StrCat("moetrain-worker:", job_id, ":", attempt_id, ":", rank, ":", secret);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(digest), length));
}

bool TokensEqual(absl::string_view a, absl::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace moe::common
