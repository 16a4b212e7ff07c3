// The local launcher: one child process of moed per rank, on moed's device slots, rendezvous
// on 127.0.0.1. All ranks of an attempt share one process group (led by rank 0), so one signal
// reaches them all. The ranks do not outlive moed: nothing to re-attach to.
#ifndef MOE_SERVER_LOCAL_LAUNCHER_H_
#define MOE_SERVER_LOCAL_LAUNCHER_H_

#include "server/launcher.h"

namespace moe::server {

class LocalLauncher : public Launcher {
 public:
  absl::Status Admit(const moe::v1::JobSpec& spec, int slots) const override;
  bool UsesSlots() const override { return true; }
  absl::StatusOr<std::unique_ptr<WorkerGroup>> Launch(const LaunchRequest& request) override;
  absl::StatusOr<std::unique_ptr<WorkerGroup>> Reattach(
      const std::string& handle, int world_size, const std::filesystem::path& log_dir) override;
};

}  // namespace moe::server

#endif  // MOE_SERVER_LOCAL_LAUNCHER_H_
