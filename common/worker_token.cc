#include "common/worker_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdlib>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace moe::common {

std::string NewWorkerSecret() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    // No randomness: a predictable secret would let anyone report for the job.
    spdlog::critical("RAND_bytes failed: no random worker secret can be made");
    std::abort();
  }
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(bytes), sizeof(bytes)));
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
