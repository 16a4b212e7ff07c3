// The two parameter-holding primitives the model is built from, created directly on their
// device in their dtype (torch::nn::Linear and Embedding would first make an fp32 CPU copy),
// with random values drawn there; MptForCausalLM::InitializeWeights sets the model's own.
#ifndef MOE_WORKER_MODEL_LAYERS_H_
#define MOE_WORKER_MODEL_LAYERS_H_

#include <torch/torch.h>

namespace moe::worker {

// y = x W^T, no bias. Parameter: weight [out, in].
class ProjectionImpl : public torch::nn::Module {
 public:
  ProjectionImpl(int64_t in, int64_t out, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x) { return torch::linear(x, weight); }
  torch::Tensor weight;
};
TORCH_MODULE(Projection);

// Rows of weight [num, dim] by index.
class EmbeddingImpl : public torch::nn::Module {
 public:
  EmbeddingImpl(int64_t num, int64_t dim, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& ids) { return torch::embedding(weight, ids); }
  torch::Tensor weight;
};
TORCH_MODULE(Embedding);

}  // namespace moe::worker

#endif  // MOE_WORKER_MODEL_LAYERS_H_
