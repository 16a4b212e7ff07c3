// The model's parameters flattened, in named_parameters() order, into one contiguous buffer
// of the model's dtype, each starting at a multiple of kAlignment elements (so every view is
// aligned as vectorised and grouped-matmul kernels want; the gaps stay zero, and so do their
// gradients and optimizer state), with each parameter re-pointed to a view into it; and an fp32
// gradient buffer of the same layout that micro-batch gradients accumulate into (allocated on first
// use: under ZeRO-2 gradients go through GradientBuckets instead). The optimizer and ZeRO-2 work on
// ranges of these buffers; element ranges map back to parameter names.
#ifndef MOE_WORKER_TRAIN_FLAT_PARAMETERS_H_
#define MOE_WORKER_TRAIN_FLAT_PARAMETERS_H_

#include <torch/torch.h>

#include <string>
#include <vector>

namespace moe::worker {

struct ParameterRange {
  std::string name;
  int64_t offset;  // first element in the flat buffer
  std::vector<int64_t> shape;
  int64_t numel;
  bool decay;  // weight decay applies (matrices), not to norms
};

class FlatParameters {
 public:
  // Takes over `module`'s parameters (which must all be of one dtype except fp32 routers,
  // which are cast). The buffer is padded with zeros to a multiple of `pad_multiple`.
  FlatParameters(torch::nn::Module& module, int64_t pad_multiple = 1);
  static constexpr int64_t kAlignment = 16;  // elements

  // Adds every parameter's .grad (then clears it) into the fp32 gradient buffer.
  void AccumulateGradients();

  torch::Tensor& params() { return params_; }  // [numel padded], model dtype
  torch::Tensor& grads();                      // [numel padded], fp32
  // The module's parameters (views into params()), in range order.
  std::vector<torch::Tensor>& tensors() { return tensors_; }
  const std::vector<ParameterRange>& ranges() const { return ranges_; }
  int64_t numel() const { return numel_; }  // the parameters' elements, without gaps or padding

 private:
  std::vector<torch::Tensor> tensors_;  // the module's parameters, in range order
  std::vector<ParameterRange> ranges_;
  torch::Tensor params_, grads_;
  int64_t numel_ = 0;
};

}  // namespace moe::worker

#endif  // MOE_WORKER_TRAIN_FLAT_PARAMETERS_H_
