#include "worker/model/ffn.h"

namespace moe::worker {

FfnImpl::FfnImpl(int64_t d_model, int64_t hidden, const torch::TensorOptions& options)
    : up_proj(register_module("up_proj", Projection(d_model, hidden, options))),
      down_proj(register_module("down_proj", Projection(hidden, d_model, options))) {}

torch::Tensor FfnImpl::forward(const torch::Tensor& x_ND) {
  return down_proj(torch::gelu(up_proj(x_ND)));  // gelu's default is the exact erf form
}

LayerNormImpl::LayerNormImpl(int64_t dim, double eps, const torch::TensorOptions& options)
    : weight(register_parameter("weight", torch::ones({dim}, options))), dim_(dim), eps_(eps) {}

torch::Tensor LayerNormImpl::forward(const torch::Tensor& x) {
  return torch::layer_norm(x, {dim_}, weight, /*bias=*/{}, eps_);
}

}  // namespace moe::worker
