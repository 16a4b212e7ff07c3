// How a worker learns its place in a job: torchrun's environment variables, so moed and a
// person by hand launch workers the same way.
#ifndef MOE_WORKER_PARALLEL_LAUNCH_ENV_H_
#define MOE_WORKER_PARALLEL_LAUNCH_ENV_H_

#include <chrono>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace moe::worker {

struct LaunchEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;                     // picks the GPU on CUDA builds
  std::string master_addr = "127.0.0.1";  // rank 0 hosts the rendezvous store here
  uint16_t master_port = 29500;
  // How long rendezvous, and then any one collective, may wait for the other ranks.
  std::chrono::milliseconds timeout = std::chrono::minutes(5);
};

// Reads RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT and MOE_DIST_TIMEOUT_S
// (seconds). Without WORLD_SIZE: one process. InvalidArgument naming the variable for a malformed
// or inconsistent value.
absl::StatusOr<LaunchEnv> LaunchEnvFromEnvironment();

}  // namespace moe::worker

#endif  // MOE_WORKER_PARALLEL_LAUNCH_ENV_H_
