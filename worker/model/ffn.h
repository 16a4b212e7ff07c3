// MPT's feed-forward network and the LayerNorm without bias, the two small modules a block
// is built from besides attention and the MoE FFN.
//
// Legend: N tokens, D d_model, F hidden (expansion_ratio * D).
#ifndef MOE_WORKER_MODEL_FFN_H_
#define MOE_WORKER_MODEL_FFN_H_

#include <torch/torch.h>

#include "worker/model/layers.h"

namespace moe::worker {

// down(gelu(up(x))) with the exact (erf) GELU and no biases. Parameters: up_proj.weight [F, D],
// down_proj.weight [D, F].
class FfnImpl : public torch::nn::Module {
 public:
  FfnImpl(int64_t d_model, int64_t hidden, const torch::TensorOptions& options = {});
  torch::Tensor forward(const torch::Tensor& x_ND);

  Projection up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(Ffn);

// LayerNorm with a weight and no bias (MPT's no_bias). Parameter: weight [D].
class LayerNormImpl : public torch::nn::Module {
 public:
  LayerNormImpl(int64_t dim, double eps, const torch::TensorOptions& options = {});
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight;

 private:
  int64_t dim_;
  double eps_;
};
TORCH_MODULE(LayerNorm);

}  // namespace moe::worker

#endif  // MOE_WORKER_MODEL_FFN_H_
