// The launchers moed can start workers with (server/launcher.h), by the value of a spec's
// resources.launcher. moed builds one registry at start (Daemon: one Register line per
// launcher); the coordinator asks it for a job's launcher and, after a restart, for the
// launcher that made an attempt's handle. The coordinator names no launcher itself.
#ifndef MOE_SERVER_LAUNCHER_REGISTRY_H_
#define MOE_SERVER_LAUNCHER_REGISTRY_H_

#include <map>
#include <memory>
#include <string>

#include "moe/v1/job.pb.h"
#include "server/launcher.h"

namespace moe::server {

class LauncherRegistry {
 public:
  // `fallback`: the launcher of specs that leave resources.launcher unspecified.
  explicit LauncherRegistry(moe::v1::Launcher fallback) : fallback_(fallback) {}

  // `launcher` starts the workers of specs whose resources.launcher is `kind`.
  void Register(moe::v1::Launcher kind, std::unique_ptr<Launcher> launcher);
  // The launcher of `kind` (UNSPECIFIED: the fallback); InvalidArgument naming the field when
  // this moed has none for it.
  absl::StatusOr<Launcher*> For(moe::v1::Launcher kind) const;
  // The launcher that made `handle` (Launcher::OwnsHandle); nullptr when none did.
  Launcher* ForHandle(const std::string& handle) const;

 private:
  moe::v1::Launcher fallback_;
  std::map<moe::v1::Launcher, std::unique_ptr<Launcher>> launchers_;
};

}  // namespace moe::server

#endif  // MOE_SERVER_LAUNCHER_REGISTRY_H_
