#include "worker/model/layers.h"

#include <cmath>

namespace moe::worker {

ProjectionImpl::ProjectionImpl(int64_t in, int64_t out, const torch::TensorOptions& options)
    // Normal with std 1/sqrt(in) (fan-in), drawn where the weight lives.
    : weight(register_parameter("weight", torch::randn({out, in}, options).div_(std::sqrt(in)))) {}

EmbeddingImpl::EmbeddingImpl(int64_t num, int64_t dim, const torch::TensorOptions& options)
    : weight(register_parameter("weight", torch::randn({num, dim}, options))) {}

}  // namespace moe::worker
