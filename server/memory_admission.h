// Admission by memory plan: at submit, moed plans the job (plan/job_plan.h) against the memory
// of the machines it would run on and refuses one that cannot fit, with the plan's words (the
// need, the memory, the largest term, the changes that would fit). Within 5% of the memory the
// job is admitted, with a warning for its events.
#ifndef MOE_SERVER_MEMORY_ADMISSION_H_
#define MOE_SERVER_MEMORY_ADMISSION_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "moe/v1/job.pb.h"

namespace moe::server {

// The memory jobs are admitted against; 0: unknown (no verdict on it).
struct MemoryLimits {
  int64_t gpu_bytes = 0;   // one GPU
  int64_t host_bytes = 0;  // one node
};

// What moed knows of its machines' memory: the local one's (from NVML's smallest GPU and the
// physical memory, unless --gpu-memory / --host-memory say otherwise) and a Slurm partition's
// (from those flags only).
struct MachineMemory {
  MemoryLimits local, slurm;
};

// Plans `spec` (validated, paths absolute) against the memory of the machines it would run on:
// `memory.slurm` for a Slurm job, else `memory.local`; a job whose resources.device is unset
// runs on GPUs where there are some (local: a known GPU memory; Slurm: gpus_per_node > 0).
// InvalidArgument with the plan's summary when it does not fit; the warning when it fits within
// 5%; nullopt otherwise, or when the job cannot be planned (the worker will report why).
absl::StatusOr<std::optional<std::string>> AdmitByMemory(const moe::v1::JobSpec& spec,
                                                         const MachineMemory& memory, bool slurm);

// After a job ran out of memory: the largest term of its plan and the single changes that
// would cut the need by at least a sixth (the plan fitted, or it would not have been admitted:
// what it leaves out, such as allocator fragmentation, needs that margin), e.g. "the memory
// plan's largest term is activations, 31.2 GB of 70.4 GB per GPU; changes that leave a sixth
// free: model.activation_checkpointing: true (45.1 GB per GPU); ...". "" when it cannot say.
std::string OutOfMemoryAdvice(const moe::v1::JobSpec& spec, const MachineMemory& memory,
                              bool slurm);

// This machine's physical memory in bytes (sysconf), 0 if unknown.
int64_t PhysicalMemoryBytes();

}  // namespace moe::server

#endif  // MOE_SERVER_MEMORY_ADMISSION_H_
