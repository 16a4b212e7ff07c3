// MPT (mosaicml/mpt-7b's architecture) with chosen FFN layers as Mixture-of-Experts:
// x = wte(ids); per block x += attn(LN1(x)); x += ffn(LN2(x)); logits = LN_f(x) @ wte^T.
// Parameter names are Hugging Face MPT's ("transformer.blocks.0.attn.Wqkv.weight"); MoE
// layers hold "ffn.router.weight" [E, D], "ffn.experts.up_proj" [E, F, D] and
// "ffn.experts.down_proj" [E, D, F]. The model knows nothing of ZeRO, collectives or moed.
//
// Legend: B rows, T tokens per row, D d_model, H heads, V vocab, E experts, N = B * T.
#ifndef MOE_WORKER_MODEL_MPT_MODEL_H_
#define MOE_WORKER_MODEL_MPT_MODEL_H_

#include <torch/torch.h>

#include <vector>

#include "moe/v1/job.pb.h"
#include "worker/model/attention.h"
#include "worker/model/ffn.h"
#include "worker/model/moe_ffn.h"

namespace moe::worker {

struct ModelInputs {
  torch::Tensor input_ids;    // [B, T] int64
  torch::Tensor segment_ids;  // [B, T] int64: 1, 2, ... per packed sample, 0 for padding;
                              // undefined: each row is one sequence
  torch::Tensor expert_ids;   // [B, T] int64 labelled expert, -1 for none; may be undefined
};

struct ModelOutput {
  torch::Tensor logits_BTV;         // in the model's dtype
  torch::Tensor aux_loss;           // scalar fp32: the MoE layers' weighted auxiliary losses
  std::vector<MoeStats> moe_stats;  // one per MoE layer, in layer order
};

class MptBlockImpl : public torch::nn::Module {
 public:
  MptBlockImpl(const moe::v1::MptConfig& config, const moe::v1::MoeSpec& moe, bool is_moe,
               const torch::TensorOptions& options);
  // Returns x after the block; adds an MoE layer's aux loss and stats to `out`.
  torch::Tensor forward(const torch::Tensor& x_BTD, const torch::Tensor& bias_BHTT,
                        const RoutingInputs& routing, ModelOutput* out);

  LayerNorm norm_1{nullptr}, norm_2{nullptr};
  Attention attn{nullptr};
  Ffn dense{nullptr};   // registered as "ffn" in dense layers
  MoeFfn moe{nullptr};  // registered as "ffn" in MoE layers
};
TORCH_MODULE(MptBlock);

class MptTransformerImpl : public torch::nn::Module {
 public:
  MptTransformerImpl(const moe::v1::MptConfig& config, const moe::v1::MoeSpec& moe,
                     const torch::TensorOptions& options);
  Embedding wte{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  LayerNorm norm_f{nullptr};
};
TORCH_MODULE(MptTransformer);

class MptForCausalLMImpl : public torch::nn::Module {
 public:
  // `config` must be complete (vocab_size set) and valid; `moe` with no experts: dense. Every
  // parameter is created on `options`' device in its dtype (default: CPU, fp32), with
  // placeholder values until InitializeWeights or a load.
  MptForCausalLMImpl(const moe::v1::MptConfig& config, const moe::v1::MoeSpec& moe,
                     const torch::TensorOptions& options = {});

  ModelOutput forward(const ModelInputs& inputs);

  // llm-foundry's initialisation: kaiming-normal (fan_in) weights, out_proj and down_proj
  // (and the experts' down_proj) divided by sqrt(2 * n_layers), norms 1. Deterministic in
  // `seed` and the same on every device and dtype: drawn in fp32 on the CPU one tensor at a
  // time, then copied into place.
  void InitializeWeights(uint64_t seed);

  // Casts every parameter to `dtype` (bf16 or fp32). Routers compute in fp32 whatever their
  // storage (the optimizer keeps fp32 master weights).
  void SetDtype(torch::ScalarType dtype);

  // Recompute each block in backward instead of keeping its activations (training only).
  void SetActivationCheckpointing(bool on) { activation_checkpointing_ = on; }

  const moe::v1::MptConfig& config() const { return config_; }
  torch::Device device() const { return transformer->wte->weight.device(); }
  const moe::v1::MoeSpec& moe_spec() const { return moe_; }

  MptTransformer transformer{nullptr};

 private:
  const moe::v1::MptConfig config_;
  const moe::v1::MoeSpec moe_;
  torch::Tensor slopes_H_;  // ALiBi slopes, fp32 on the parameters' device (not a parameter)
  bool activation_checkpointing_ = false;
};
TORCH_MODULE(MptForCausalLM);

// The attention bias [B, H, T, T] in fp32 on segment_ids' device: ALiBi plus 0 where query i
// may see key j (j <= i in the same segment; a padding token sees itself only) and -inf
// elsewhere.
torch::Tensor AttentionBias(const torch::Tensor& segment_ids_BT, const torch::Tensor& slopes_H);

// Routing inputs derived from a batch's segment and expert ids (flattened to N).
RoutingInputs MakeRoutingInputs(const torch::Tensor& segment_ids_BT,
                                const torch::Tensor& expert_ids_BT);

}  // namespace moe::worker

#endif  // MOE_WORKER_MODEL_MPT_MODEL_H_
