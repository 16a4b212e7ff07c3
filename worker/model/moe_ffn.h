// The Mixture-of-Experts FFN: an fp32 softmax router picks top-k experts per token; each
// expert is an MPT FFN; tokens past an expert's capacity are dropped (their output is zero and
// the residual carries them). All experts run as one grouped matmul pair over the assignments
// sorted by expert, so the forward never waits for the device to learn how many tokens each
// expert got (no host synchronisation). The data set's expert labels can steer routing (see
// RoutingMode in job.proto).
//
// Legend: N tokens, D d_model, F hidden, E experts, k top_k, S samples, A = N * k.
#ifndef MOE_WORKER_MODEL_MOE_FFN_H_
#define MOE_WORKER_MODEL_MOE_FFN_H_

#include <torch/torch.h>

#include "moe/v1/job.pb.h"
#include "worker/model/layers.h"

namespace moe::worker {

// Per-token facts the router needs beyond the activations. All tensors are [N].
struct RoutingInputs {
  torch::Tensor valid;         // bool: real tokens; padding neither routes nor counts
  torch::Tensor expert_label;  // int64 labelled expert per token, -1 for none; may be undefined
  torch::Tensor sample;        // int64 sample index per token, 0..num_samples-1 (label_guided)
  int64_t num_samples = 0;     // an upper bound: indices past the last sample are unused
};

// What one MoE layer did in a forward pass: detached tensors on the layer's device, so that
// nothing waits for them until they are reported.
struct MoeStats {
  torch::Tensor tokens_per_expert;  // [E] int64: assignments each expert processed
  torch::Tensor dropped;            // int64: assignments dropped for capacity
  torch::Tensor load_balance_loss;  // fp32: Switch loss, 1.0 at perfect balance
  torch::Tensor z_loss;             // fp32: ST-MoE router z-loss
  torch::Tensor label_loss;         // fp32: label_guided / label_forced cross-entropy, else 0
  torch::Tensor router_entropy;     // fp32: mean entropy of the router distribution (nats)

  // fp64 [E + kSummaryScalars]: tokens per expert, then dropped, load-balance loss, z-loss,
  // label loss, router entropy (what the trainer sums over micro-batches and reports).
  static constexpr int64_t kSummaryScalars = 5;
  torch::Tensor Summary() const;
};

struct MoeOutput {
  torch::Tensor y_ND;      // the layer's output, zero for dropped assignments
  torch::Tensor aux_loss;  // scalar fp32: the weighted sum of the auxiliary losses
  MoeStats stats;
};

// E expert FFNs stored as two tensors. Parameters: up_proj [E, F, D], down_proj [E, D, F].
class ExpertsImpl : public torch::nn::Module {
 public:
  ExpertsImpl(int64_t num_experts, int64_t d_model, int64_t hidden,
              const torch::TensorOptions& options = {});
  torch::Tensor up_proj, down_proj;
};
TORCH_MODULE(Experts);

class MoeFfnImpl : public torch::nn::Module {
 public:
  // `spec` must be valid (common/spec_validator) with at least two experts.
  MoeFfnImpl(int64_t d_model, int64_t hidden, const moe::v1::MoeSpec& spec,
             const torch::TensorOptions& options = {});

  // x_ND in the model's dtype. In label_forced mode labels steer routing only while training.
  MoeOutput forward(const torch::Tensor& x_ND, const RoutingInputs& routing);

  Projection router{nullptr};  // weight [E, D]; applied in fp32
  Experts experts{nullptr};

 private:
  // Chooses experts: returns (weights [N, k] fp32, experts [N, k] int64).
  std::pair<torch::Tensor, torch::Tensor> Route(const torch::Tensor& probs_NE,
                                                const RoutingInputs& routing) const;
  // Which assignments (slot-major, [A]) fit within each expert's capacity.
  torch::Tensor WithinCapacity(const torch::Tensor& expert_A, const torch::Tensor& keep_A,
                               const torch::Tensor& valid_tokens) const;
  // Runs each expert on its kept assignments (group_A: the expert, or E for an assignment
  // that is dropped or padding); returns y [N, D] and the assignments per group [E + 1].
  std::pair<torch::Tensor, torch::Tensor> RunExperts(const torch::Tensor& x_ND,
                                                     const torch::Tensor& token_A,
                                                     const torch::Tensor& group_A,
                                                     const torch::Tensor& weight_A) const;

  const moe::v1::MoeSpec spec_;
  const int64_t num_experts_;
};
TORCH_MODULE(MoeFfn);

// The auxiliary losses, exposed for tests. `valid` masks padding (bool [N]).
// Switch load balance: E * sum_e f_e * P_e with f the fraction of valid tokens whose first
// choice is e and P the mean router probability.
torch::Tensor LoadBalanceLoss(const torch::Tensor& probs_NE, const torch::Tensor& first_N,
                              const torch::Tensor& valid_N);
// ST-MoE z-loss: mean over valid tokens of logsumexp(logits)^2.
torch::Tensor RouterZLoss(const torch::Tensor& logits_NE, const torch::Tensor& valid_N);

}  // namespace moe::worker

#endif  // MOE_WORKER_MODEL_MOE_FFN_H_
