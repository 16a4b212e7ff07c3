// The launcher registry: a spec's resources.launcher picks a registered launcher (the fallback
// when unspecified), an attempt's handle finds the launcher that made it, and a launcher moed
// lacks is refused naming the field.
#include "server/launcher_registry.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/local_launcher.h"
#include "server/slurm_launcher.h"

namespace moe::server {
namespace {

using ::testing::HasSubstr;

TEST(LauncherRegistry, FindsLaunchersBySpecAndByHandle) {
  LauncherRegistry registry(moe::v1::LAUNCHER_LOCAL);
  auto local = std::make_unique<LocalLauncher>();
  auto slurm = std::make_unique<SlurmLauncher>(SlurmOptions{});
  const Launcher* local_ptr = local.get();
  const Launcher* slurm_ptr = slurm.get();
  registry.Register(moe::v1::LAUNCHER_LOCAL, std::move(local));
  registry.Register(moe::v1::LAUNCHER_SLURM, std::move(slurm));
  EXPECT_EQ(*registry.For(moe::v1::LAUNCHER_UNSPECIFIED), local_ptr);
  EXPECT_EQ(*registry.For(moe::v1::LAUNCHER_LOCAL), local_ptr);
  EXPECT_EQ(*registry.For(moe::v1::LAUNCHER_SLURM), slurm_ptr);
  EXPECT_EQ(registry.ForHandle("slurm:4242"), slurm_ptr);
  EXPECT_EQ(registry.ForHandle(""), nullptr) << "local workers leave no handle";
  EXPECT_EQ(registry.ForHandle("k8s:job-7"), nullptr);
}

TEST(LauncherRegistry, ALauncherThisMoedLacksIsRefusedNamingTheField) {
  LauncherRegistry registry(moe::v1::LAUNCHER_SLURM);
  registry.Register(moe::v1::LAUNCHER_LOCAL, std::make_unique<LocalLauncher>());
  const auto missing = registry.For(moe::v1::LAUNCHER_UNSPECIFIED);  // the fallback: slurm
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("resources.launcher: this moed has no slurm launcher"));
}

}  // namespace
}  // namespace moe::server
