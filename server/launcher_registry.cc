#include "server/launcher_registry.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace moe::server {

void LauncherRegistry::Register(moe::v1::Launcher kind, std::unique_ptr<Launcher> launcher) {
  launchers_[kind] = std::move(launcher);
}

absl::StatusOr<Launcher*> LauncherRegistry::For(moe::v1::Launcher kind) const {
  if (kind == moe::v1::LAUNCHER_UNSPECIFIED) kind = fallback_;
  const auto it = launchers_.find(kind);
  if (it == launchers_.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "resources.launcher: this moed has no ",
        absl::AsciiStrToLower(absl::StripPrefix(moe::v1::Launcher_Name(kind), "LAUNCHER_")),
        " launcher"));
  }
  return it->second.get();
}

Launcher* LauncherRegistry::ForHandle(const std::string& handle) const {
  for (const auto& [kind, launcher] : launchers_) {
    if (launcher->OwnsHandle(handle)) return launcher.get();
  }
  return nullptr;
}

}  // namespace moe::server
