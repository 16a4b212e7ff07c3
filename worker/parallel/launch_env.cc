#include "worker/parallel/launch_env.h"

#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace moe::worker {
namespace {

// Reads integer variable `name` into *out (left alone when unset).
absl::Status ReadInt(const char* name, int min, int max, int* out) {
  const char* value = std::getenv(name);
  if (value == nullptr) return absl::OkStatus();
  int parsed;
  if (!absl::SimpleAtoi(value, &parsed) || parsed < min || parsed > max) {
    return absl::InvalidArgumentError(absl::StrCat("environment variable ", name, "='", value,
                                                   "': expected an integer in [", min, ", ", max,
                                                   "]"));
  }
  *out = parsed;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<LaunchEnv> LaunchEnvFromEnvironment() {
  LaunchEnv env;
  if (std::getenv("WORLD_SIZE") == nullptr) return env;
  if (auto s = ReadInt("WORLD_SIZE", 1, 1 << 16, &env.world_size); !s.ok()) return s;
  if (auto s = ReadInt("RANK", 0, env.world_size - 1, &env.rank); !s.ok()) return s;
  if (auto s = ReadInt("LOCAL_RANK", 0, env.world_size - 1, &env.local_rank); !s.ok()) return s;
  int port = env.master_port;
  if (auto s = ReadInt("MASTER_PORT", 1, 65535, &port); !s.ok()) return s;
  env.master_port = static_cast<uint16_t>(port);
  if (const char* addr = std::getenv("MASTER_ADDR"); addr != nullptr && *addr != '\0')
    env.master_addr = addr;
  int timeout_s = static_cast<int>(env.timeout.count() / 1000);
  if (auto s = ReadInt("MOE_DIST_TIMEOUT_S", 1, 24 * 3600, &timeout_s); !s.ok()) return s;
  env.timeout = std::chrono::seconds(timeout_s);
  if (env.world_size > 1 && std::getenv("RANK") == nullptr) {
    return absl::InvalidArgumentError("WORLD_SIZE > 1 needs RANK (and MASTER_ADDR, MASTER_PORT)");
  }
  return env;
}

}  // namespace moe::worker
