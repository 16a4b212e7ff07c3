// MPT multi-head self-attention: fused Wqkv (rows q, then k, then v), no biases, scale
// 1/sqrt(head_dim), ALiBi and the block-diagonal causal mask arriving as one additive bias.
//
// Legend: B rows, T tokens per row, D d_model, H heads, K head_dim = D / H.
#ifndef MOE_WORKER_MODEL_ATTENTION_H_
#define MOE_WORKER_MODEL_ATTENTION_H_

#include <torch/torch.h>

#include "worker/model/layers.h"

namespace moe::worker {

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(int64_t d_model, int64_t n_heads, const torch::TensorOptions& options = {});
  // bias_BHTT: ALiBi plus mask (-inf where not allowed), broadcastable to [B, H, T, T].
  torch::Tensor forward(const torch::Tensor& x_BTD, const torch::Tensor& bias_BHTT);

  Projection Wqkv{nullptr}, out_proj{nullptr};

 private:
  int64_t d_model_, n_heads_;
};
TORCH_MODULE(Attention);

}  // namespace moe::worker

#endif  // MOE_WORKER_MODEL_ATTENTION_H_
