// The global order of samples in an epoch: a permutation of [0, n) seeded by seed + epoch.
// It uses its own generator (SplitMix64) and Fisher-Yates shuffle rather than std::shuffle,
// whose results differ between standard libraries, so every machine, rank and world size
// sees the same order.
#ifndef MOE_WORKER_DATA_SAMPLER_H_
#define MOE_WORKER_DATA_SAMPLER_H_

#include <cstdint>
#include <vector>

namespace moe::worker {

std::vector<uint32_t> EpochOrder(uint32_t n, uint64_t seed, uint64_t epoch);

}  // namespace moe::worker

#endif  // MOE_WORKER_DATA_SAMPLER_H_
