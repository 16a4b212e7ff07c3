// How a worker proves to moed which job, attempt and rank it is (WorkerService). moed makes a
// fresh random secret per attempt and never logs it or puts it on a command line; each rank
// gets only its own token, SHA-256 of the secret bound to job, attempt and rank, in its
// environment (MOE_WORKER_TOKEN), and sends it with every call (metadata kWorkerTokenHeader).
// Launchers that cannot set per-rank variables (a Slurm batch script) hand the secret
// (MOE_WORKER_SECRET) to a wrapper that derives the rank's token and unsets the secret.
#ifndef MOE_COMMON_WORKER_TOKEN_H_
#define MOE_COMMON_WORKER_TOKEN_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace moe::common {

inline constexpr char kWorkerTokenHeader[] = "x-moe-worker-token";
inline constexpr char kWorkerTokenVariable[] = "MOE_WORKER_TOKEN";
inline constexpr char kWorkerSecretVariable[] = "MOE_WORKER_SECRET";

// 32 random bytes (OpenSSL's RAND_bytes), as 64 lower-case hex digits.
std::string NewWorkerSecret();

// Lower-case hex SHA-256 of "moetrain-worker:<job>:<attempt>:<rank>:<secret>" (what the Slurm
// wrapper computes with sha256sum).
std::string WorkerToken(absl::string_view secret, int64_t job_id, int64_t attempt_id, int rank);

// Equal, in time that depends only on the lengths.
bool TokensEqual(absl::string_view a, absl::string_view b);

}  // namespace moe::common

#endif  // MOE_COMMON_WORKER_TOKEN_H_
