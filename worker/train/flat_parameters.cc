#include "worker/train/flat_parameters.h"

namespace moe::worker {

FlatParameters::FlatParameters(torch::nn::Module& module, int64_t pad_multiple) {
  torch::NoGradGuard no_grad;
  const auto named = module.named_parameters();
  const torch::ScalarType dtype =
      named.is_empty() ? torch::kFloat32 : named[0].value().scalar_type();
  int64_t end = 0;
  for (const auto& item : named) {
    const torch::Tensor& p = item.value();
    const int64_t offset = (end + kAlignment - 1) / kAlignment * kAlignment;
    ranges_.push_back({item.key(), offset, p.sizes().vec(), p.numel(), p.dim() >= 2});
    tensors_.push_back(p);
    numel_ += p.numel();
    end = offset + p.numel();
  }
  const int64_t padded = (end + pad_multiple - 1) / pad_multiple * pad_multiple;
  params_ = torch::zeros({padded}, named.is_empty() ? torch::TensorOptions()
                                                    : named[0].value().options().dtype(dtype));
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const ParameterRange& r = ranges_[i];
    torch::Tensor view = params_.narrow(0, r.offset, r.numel).view(r.shape);
    view.copy_(tensors_[i]);
    tensors_[i].set_data(view);  // the parameter now lives in the flat buffer
  }
}

torch::Tensor& FlatParameters::grads() {
  if (!grads_.defined())
    grads_ = torch::zeros_like(params_, params_.options().dtype(torch::kFloat32));
  return grads_;
}

void FlatParameters::AccumulateGradients() {
  torch::NoGradGuard no_grad;
  grads();
  for (size_t i = 0; i < tensors_.size(); ++i) {
    torch::Tensor& grad = tensors_[i].mutable_grad();
    if (!grad.defined()) continue;  // e.g. an expert that received no token
    grads_.narrow(0, ranges_[i].offset, ranges_[i].numel).add_(grad.reshape(-1));
    grad = torch::Tensor();
  }
}

}  // namespace moe::worker
