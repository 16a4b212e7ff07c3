// How many processes the kernel's OOM killer has killed in moed's memory cgroup (whose workers
// inherit it), so that a worker's SIGKILL that moed did not send can be told apart: one that
// came with a rise of this count was out of memory.
#ifndef MOE_SERVER_OOM_KILLS_H_
#define MOE_SERVER_OOM_KILLS_H_

#include <cstdint>
#include <filesystem>
#include <optional>

namespace moe::server {

// The "oom_kill" count of this process's memory cgroup: cgroup v2 memory.events or v1
// memory.oom_control. The cgroup path of /proc/self/cgroup is looked up under `cgroup_root`
// whole and then without its leading parts (a cgroup namespace mounts the process's own
// cgroup as the root). nullopt when neither file can be read.
std::optional<int64_t> OomKills(const std::filesystem::path& cgroup_root = "/sys/fs/cgroup",
                                const std::filesystem::path& self_cgroup = "/proc/self/cgroup");

}  // namespace moe::server

#endif  // MOE_SERVER_OOM_KILLS_H_
