#include "worker/model/attention.h"

#include <cmath>

namespace moe::worker {

AttentionImpl::AttentionImpl(int64_t d_model, int64_t n_heads, const torch::TensorOptions& options)
    : Wqkv(register_module("Wqkv", Projection(d_model, 3 * d_model, options))),
      out_proj(register_module("out_proj", Projection(d_model, d_model, options))),
      d_model_(d_model),
      n_heads_(n_heads) {}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x_BTD, const torch::Tensor& bias_BHTT) {
  const int64_t b = x_BTD.size(0), t = x_BTD.size(1), k = d_model_ / n_heads_;
  const std::vector<torch::Tensor> qkv = Wqkv(x_BTD).chunk(3, -1);
  auto heads = [&](const torch::Tensor& x) { return x.view({b, t, n_heads_, k}).transpose(1, 2); };
  const torch::Tensor o_BHTK = at::scaled_dot_product_attention(
      heads(qkv[0]), heads(qkv[1]), heads(qkv[2]), bias_BHTT.to(x_BTD.scalar_type()),
      /*dropout_p=*/0.0,
      /*is_causal=*/false, 1.0 / std::sqrt(static_cast<double>(k)));
  return out_proj(o_BHTK.transpose(1, 2).reshape({b, t, d_model_}));
}

}  // namespace moe::worker
