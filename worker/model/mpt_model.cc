#include "worker/model/mpt_model.h"

#include <cmath>

#include "common/model_config.h"
#include "worker/model/alibi.h"

namespace moe::worker {

MptBlockImpl::MptBlockImpl(const moe::v1::MptConfig& config, const moe::v1::MoeSpec& moe_spec,
                           bool is_moe, const torch::TensorOptions& options) {
  const int64_t d = config.d_model(), hidden = config.expansion_ratio() * config.d_model();
  norm_1 = register_module("norm_1", LayerNorm(d, config.layer_norm_eps(), options));
  attn = register_module("attn", Attention(d, config.n_heads(), options));
  norm_2 = register_module("norm_2", LayerNorm(d, config.layer_norm_eps(), options));
  if (is_moe) {
    moe = register_module("ffn", MoeFfn(d, hidden, moe_spec, options));
  } else {
    dense = register_module("ffn", Ffn(d, hidden, options));
  }
}

torch::Tensor MptBlockImpl::forward(const torch::Tensor& x_BTD, const torch::Tensor& bias_BHTT,
                                    const RoutingInputs& routing, ModelOutput* out) {
  torch::Tensor x = x_BTD + attn(norm_1(x_BTD), bias_BHTT);
  const torch::Tensor h_ND = norm_2(x).reshape({-1, x.size(2)});
  if (dense) return x + dense(h_ND).view_as(x);
  MoeOutput m = moe(h_ND, routing);
  out->aux_loss = out->aux_loss + m.aux_loss;
  out->moe_stats.push_back(std::move(m.stats));
  return x + m.y_ND.view_as(x);
}

namespace {

// Activation checkpointing of one block, as PyTorch's reentrant torch.utils.checkpoint: the
// forward keeps only the block's input; backward recomputes the block with gradients on and
// back-propagates through it, which accumulates the parameters' gradients and yields the
// input's. Outputs: {x after the block, the block's aux loss}.
struct CheckpointedBlock : public torch::autograd::Function<CheckpointedBlock> {
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                const torch::Tensor& x_BTD, MptBlockImpl* block,
                                                const torch::Tensor& bias_BHTT,
                                                const RoutingInputs* routing, ModelOutput* out) {
    ctx->save_for_backward({x_BTD});
    ctx->saved_data["block"] = reinterpret_cast<int64_t>(block);
    ctx->saved_data["bias"] = bias_BHTT;
    // The routing inputs by value: the caller's struct is gone when backward runs.
    ctx->saved_data["valid"] = routing->valid;
    ctx->saved_data["sample"] = routing->sample;
    ctx->saved_data["num_samples"] = routing->num_samples;
    if (routing->expert_label.defined()) ctx->saved_data["expert_label"] = routing->expert_label;
    ModelOutput local;
    local.aux_loss = torch::zeros({}, x_BTD.options().dtype(torch::kFloat32));
    torch::Tensor y = block->forward(x_BTD, bias_BHTT, *routing, &local);
    for (MoeStats& stats : local.moe_stats) out->moe_stats.push_back(std::move(stats));
    return {y, local.aux_loss};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto* block = reinterpret_cast<MptBlockImpl*>(ctx->saved_data["block"].toInt());
    RoutingInputs routing;
    routing.valid = ctx->saved_data["valid"].toTensor();
    routing.sample = ctx->saved_data["sample"].toTensor();
    routing.num_samples = ctx->saved_data["num_samples"].toInt();
    if (ctx->saved_data.count("expert_label")) {
      routing.expert_label = ctx->saved_data["expert_label"].toTensor();
    }
    const torch::Tensor x = ctx->get_saved_variables()[0].detach().requires_grad_(true);
    torch::AutoGradMode enable(true);
    ModelOutput local;
    local.aux_loss = torch::zeros({}, x.options().dtype(torch::kFloat32));
    const torch::Tensor y = block->forward(x, ctx->saved_data["bias"].toTensor(), routing, &local);
    torch::autograd::variable_list outputs = {y}, output_grads = {grads[0]};
    if (local.aux_loss.requires_grad()) {
      outputs.push_back(local.aux_loss);
      output_grads.push_back(grads[1]);
    }
    torch::autograd::backward(outputs, output_grads);
    return {x.grad(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

MptTransformerImpl::MptTransformerImpl(const moe::v1::MptConfig& config,
                                       const moe::v1::MoeSpec& moe,
                                       const torch::TensorOptions& options) {
  wte = register_module("wte", Embedding(config.vocab_size(), config.d_model(), options));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (uint32_t i = 0; i < config.n_layers(); ++i) {
    blocks->push_back(MptBlock(config, moe, common::IsMoeLayer(static_cast<int>(i), moe), options));
  }
  norm_f = register_module("norm_f", LayerNorm(config.d_model(), config.layer_norm_eps(), options));
}

MptForCausalLMImpl::MptForCausalLMImpl(const moe::v1::MptConfig& config,
                                       const moe::v1::MoeSpec& moe,
                                       const torch::TensorOptions& options)
    : config_(config),
      moe_(moe),
      slopes_H_(torch::tensor(AlibiSlopes(config.n_heads(), config.alibi_bias_max()),
                              torch::dtype(torch::kFloat64).device(options.device()))
                    .to(torch::kFloat32)) {
  transformer = register_module("transformer", MptTransformer(config, moe, options));
}

torch::Tensor AttentionBias(const torch::Tensor& segment_ids_BT, const torch::Tensor& slopes_H) {
  const int64_t t = segment_ids_BT.size(1);
  const torch::Tensor seg_i = segment_ids_BT.unsqueeze(2), seg_j = segment_ids_BT.unsqueeze(1);
  const torch::Tensor causal_TT =
      torch::ones({t, t}, segment_ids_BT.options().dtype(torch::kBool)).tril();
  const torch::Tensor diagonal_TT = torch::eye(t, segment_ids_BT.options().dtype(torch::kBool));
  const torch::Tensor allowed_BTT = ((seg_i == seg_j) & (seg_i != 0) & causal_TT) | diagonal_TT;
  const auto f32 = segment_ids_BT.options().dtype(torch::kFloat32);
  const torch::Tensor mask_B1TT =
      torch::zeros(allowed_BTT.sizes(), f32)
          .masked_fill(allowed_BTT.logical_not(), -std::numeric_limits<float>::infinity())
          .unsqueeze(1);
  return AlibiBias(slopes_H.to(segment_ids_BT.device()), t) + mask_B1TT;
}

RoutingInputs MakeRoutingInputs(const torch::Tensor& segment_ids_BT,
                                const torch::Tensor& expert_ids_BT) {
  RoutingInputs r;
  const int64_t t = segment_ids_BT.size(1);
  const torch::Tensor seg_N = segment_ids_BT.reshape({-1});
  r.valid = seg_N != 0;
  // Samples are contiguous in row-major order, so consecutive equal keys are one sample.
  const torch::Tensor row_N = torch::arange(segment_ids_BT.size(0), seg_N.options())
                                  .unsqueeze(1)
                                  .expand({segment_ids_BT.size(0), t})
                                  .reshape({-1});
  const torch::Tensor key_N = row_N * (t + 1) + seg_N;
  // A new sample starts wherever the key changes (computed on the device: no host sync).
  const int64_t n = key_N.size(0);
  torch::Tensor starts_N = torch::ones_like(key_N);
  if (n > 1)
    starts_N.narrow(0, 1, n - 1).copy_(key_N.narrow(0, 1, n - 1) != key_N.narrow(0, 0, n - 1));
  r.sample = starts_N.cumsum(0) - 1;
  r.num_samples = n;
  if (expert_ids_BT.defined()) r.expert_label = expert_ids_BT.reshape({-1});
  return r;
}

ModelOutput MptForCausalLMImpl::forward(const ModelInputs& inputs) {
  const torch::Tensor& ids_BT = inputs.input_ids;
  const torch::Tensor segment_BT =
      inputs.segment_ids.defined() ? inputs.segment_ids : torch::ones_like(ids_BT);
  // In the model's dtype once, not per layer.
  const torch::Tensor bias_BHTT =
      AttentionBias(segment_BT, slopes_H_).to(transformer->wte->weight.scalar_type());
  const RoutingInputs routing = MakeRoutingInputs(segment_BT, inputs.expert_ids);
  ModelOutput out;
  out.aux_loss = torch::zeros({}, ids_BT.options().dtype(torch::kFloat32));
  torch::Tensor x_BTD = transformer->wte(ids_BT);
  const bool checkpoint =
      activation_checkpointing_ && is_training() && torch::GradMode::is_enabled();
  for (const auto& block : *transformer->blocks) {
    MptBlockImpl* b = block->as<MptBlock>();
    if (!checkpoint) {
      x_BTD = b->forward(x_BTD, bias_BHTT, routing, &out);
      continue;
    }
    const torch::autograd::variable_list y =
        CheckpointedBlock::apply(x_BTD, b, bias_BHTT, &routing, &out);
    x_BTD = y[0];
    out.aux_loss = out.aux_loss + y[1];
  }
  out.logits_BTV = torch::linear(transformer->norm_f(x_BTD), transformer->wte->weight);
  return out;
}

void MptForCausalLMImpl::InitializeWeights(uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto generator = at::detail::createCPUGenerator(seed);
  const double residual_scale = 1.0 / std::sqrt(2.0 * config_.n_layers());
  for (auto& item : named_parameters()) {
    const std::string& name = item.key();
    torch::Tensor& p = item.value();
    if (p.dim() == 1) {  // LayerNorm weights
      p.fill_(1.0);
      continue;
    }
    const int64_t fan_in = p.size(-1);
    double std = std::sqrt(2.0 / fan_in);
    if (name.find("out_proj") != std::string::npos || name.find("down_proj") != std::string::npos) {
      std *= residual_scale;
    }
    p.copy_(at::normal(0.0, std, p.sizes(), generator, torch::dtype(torch::kFloat32)));
  }
}

void MptForCausalLMImpl::SetDtype(torch::ScalarType dtype) { to(dtype); }

}  // namespace moe::worker
