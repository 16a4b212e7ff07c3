#include "worker/model/moe_ffn.h"

#include <cmath>

namespace moe::worker {
namespace {

namespace F = torch::nn::functional;

torch::Tensor MeanOverValid(const torch::Tensor& values_N, const torch::Tensor& valid_N) {
  const torch::Tensor count = valid_N.sum().clamp_min(1).to(torch::kFloat32);
  return (values_N * valid_N.to(values_N.scalar_type())).sum() / count;
}

}  // namespace

ExpertsImpl::ExpertsImpl(int64_t num_experts, int64_t d_model, int64_t hidden,
                         const torch::TensorOptions& options)
    // Kaiming-normal (fan_in), drawn where they live; MptForCausalLM re-initialises.
    : up_proj(register_parameter(
          "up_proj",
          torch::randn({num_experts, hidden, d_model}, options).mul_(std::sqrt(2.0 / d_model)))),
      down_proj(register_parameter(
          "down_proj",
          torch::randn({num_experts, d_model, hidden}, options).mul_(std::sqrt(2.0 / hidden)))) {}

MoeFfnImpl::MoeFfnImpl(int64_t d_model, int64_t hidden, const moe::v1::MoeSpec& spec,
                       const torch::TensorOptions& options)
    : spec_(spec), num_experts_(spec.experts_size()) {
  router = register_module("router", Projection(d_model, num_experts_, options));
  experts = register_module("experts", Experts(num_experts_, d_model, hidden, options));
}

torch::Tensor LoadBalanceLoss(const torch::Tensor& probs_NE, const torch::Tensor& first_N,
                              const torch::Tensor& valid_N) {
  const int64_t e = probs_NE.size(1);
  const torch::Tensor mask_N1 = valid_N.to(torch::kFloat32).unsqueeze(1);
  const torch::Tensor count = mask_N1.sum().clamp_min(1);
  const torch::Tensor f_E = (F::one_hot(first_N, e).to(torch::kFloat32) * mask_N1).sum(0) / count;
  const torch::Tensor p_E = (probs_NE * mask_N1).sum(0) / count;
  return e * (f_E * p_E).sum();
}

torch::Tensor RouterZLoss(const torch::Tensor& logits_NE, const torch::Tensor& valid_N) {
  return MeanOverValid(torch::logsumexp(logits_NE, 1).pow(2), valid_N);
}

std::pair<torch::Tensor, torch::Tensor> MoeFfnImpl::Route(const torch::Tensor& probs_NE,
                                                          const RoutingInputs& routing) const {
  const int64_t k = spec_.top_k();
  auto [weight_NK, expert_NK] = torch::topk(probs_NE, k, /*dim=*/1);
  const bool forced = spec_.routing() == moe::v1::ROUTING_MODE_LABEL_FORCED && is_training() &&
                      routing.expert_label.defined();
  if (forced) {
    // The labelled expert takes the first slot; other slots keep the best remaining experts.
    const torch::Tensor label_N = routing.expert_label;
    const torch::Tensor labelled_N = label_N >= 0;
    const torch::Tensor label_N1 = label_N.clamp_min(0).unsqueeze(1);
    torch::Tensor others_NE = probs_NE.scatter(1, label_N1, -1.0);
    torch::Tensor forced_NK = label_N1;
    if (k > 1) forced_NK = torch::cat({label_N1, std::get<1>(torch::topk(others_NE, k - 1, 1))}, 1);
    expert_NK = torch::where(labelled_N.unsqueeze(1), forced_NK, expert_NK);
    weight_NK = probs_NE.gather(1, expert_NK);
  }
  if (spec_.normalize_top_k()) weight_NK = weight_NK / weight_NK.sum(1, /*keepdim=*/true);
  return {weight_NK, expert_NK};
}

torch::Tensor MoeStats::Summary() const {
  const auto f64 = torch::kFloat64;
  return torch::cat({tokens_per_expert.to(f64), dropped.to(f64).reshape({1}),
                     load_balance_loss.to(f64).reshape({1}), z_loss.to(f64).reshape({1}),
                     label_loss.to(f64).reshape({1}), router_entropy.to(f64).reshape({1})});
}

torch::Tensor MoeFfnImpl::WithinCapacity(const torch::Tensor& expert_A, const torch::Tensor& keep_A,
                                         const torch::Tensor& valid_tokens) const {
  if (spec_.capacity_factor() <= 0) return keep_A;  // dropless
  // max(ceil(valid / E * factor * k), min_capacity), in fp64 on the device.
  const torch::Tensor capacity = torch::ceil(valid_tokens.to(torch::kFloat64) / num_experts_ *
                                             spec_.capacity_factor() * spec_.top_k())
                                     .clamp_min(static_cast<double>(spec_.min_capacity()));
  // Slot-major order: every token's first choice is served before any second choice, and
  // earlier tokens before later ones (as GShard and DeepSpeed do).
  const torch::Tensor onehot_AE =
      F::one_hot(expert_A, num_experts_).to(torch::kInt64) * keep_A.unsqueeze(1);
  const torch::Tensor position_A = (onehot_AE.cumsum(0) * onehot_AE).sum(1) - 1;
  return keep_A & (position_A < capacity);
}

std::pair<torch::Tensor, torch::Tensor> MoeFfnImpl::RunExperts(
    const torch::Tensor& x_ND, const torch::Tensor& token_A, const torch::Tensor& group_A,
    const torch::Tensor& weight_A) const {
  // Sort assignments by group: expert 0's, ..., expert E-1's, then the ones no expert takes.
  const auto [group_sorted, order] = torch::sort(group_A, /*stable=*/true, 0, false);
  const torch::Tensor token_sorted = token_A.index_select(0, order);
  const torch::Tensor weight_sorted = weight_A.index_select(0, order);
  const torch::Tensor counts = torch::zeros({num_experts_ + 1}, group_A.options())
                                   .scatter_add_(0, group_A, torch::ones_like(group_A));
  // Group ends for the grouped matmul; rows past the last end (the untaken) belong to none.
  const torch::Tensor ends = counts.narrow(0, 0, num_experts_).cumsum(0).to(torch::kInt32);
  const torch::Tensor taken_A1 = (group_sorted < num_experts_).unsqueeze(1);
  // The grouped matmul leaves rows outside every group unset, in its output and in its input's
  // gradient: `where` (not a product, which would carry NaN) keeps them out of both.
  const torch::Tensor x_AD =
      torch::where(taken_A1, x_ND.index_select(0, token_sorted), torch::zeros({}, x_ND.options()));
  const torch::Tensor h_AF =
      torch::gelu(at::_grouped_mm(x_AD, experts->up_proj.transpose(1, 2), ends));
  const torch::Tensor y_AD = at::_grouped_mm(h_AF, experts->down_proj.transpose(1, 2), ends);
  const torch::Tensor out_AD = torch::where(taken_A1, y_AD, torch::zeros({}, y_AD.options())) *
                               weight_sorted.to(x_ND.scalar_type()).unsqueeze(1);
  return {torch::zeros_like(x_ND).index_add(0, token_sorted, out_AD), counts};
}

MoeOutput MoeFfnImpl::forward(const torch::Tensor& x_ND, const RoutingInputs& routing) {
  const int64_t n = x_ND.size(0), k = spec_.top_k();
  const torch::Tensor logits_NE =
      torch::matmul(x_ND.to(torch::kFloat32), router->weight.to(torch::kFloat32).t());
  const torch::Tensor probs_NE = torch::softmax(logits_NE, 1);
  auto [weight_NK, expert_NK] = Route(probs_NE, routing);

  // Assignments in slot-major order: a = slot * N + token.
  const torch::Tensor expert_A = expert_NK.t().reshape({-1});
  const torch::Tensor weight_A = weight_NK.t().reshape({-1});
  const torch::Tensor token_A = torch::arange(n, expert_A.options()).repeat({k});
  const torch::Tensor valid_A = routing.valid.repeat({k});
  const torch::Tensor valid_tokens = routing.valid.sum();
  const torch::Tensor keep_A = WithinCapacity(expert_A, valid_A, valid_tokens);
  const torch::Tensor group_A = torch::where(keep_A, expert_A, num_experts_);

  MoeOutput out;
  torch::Tensor counts;
  std::tie(out.y_ND, counts) = RunExperts(x_ND, token_A, group_A, weight_A);

  const torch::Tensor lb = LoadBalanceLoss(probs_NE, expert_NK.select(1, 0), routing.valid);
  const torch::Tensor z = RouterZLoss(logits_NE, routing.valid);
  torch::Tensor label = torch::zeros({}, logits_NE.options());
  if (routing.expert_label.defined()) {
    const torch::Tensor labelled_N = routing.valid & (routing.expert_label >= 0);
    const torch::Tensor target_N = routing.expert_label.clamp_min(0);
    if (spec_.routing() == moe::v1::ROUTING_MODE_LABEL_GUIDED) {
      // Cross-entropy between each sample's mean router distribution and its label.
      const torch::Tensor w_N1 = labelled_N.to(torch::kFloat32).unsqueeze(1);
      const torch::Tensor sum_SE =
          torch::zeros({routing.num_samples, num_experts_}, probs_NE.options())
              .index_add(0, routing.sample, probs_NE * w_N1);
      const torch::Tensor count_S = torch::zeros({routing.num_samples}, probs_NE.options())
                                        .index_add(0, routing.sample, w_N1.squeeze(1));
      const torch::Tensor label_S = torch::zeros({routing.num_samples}, target_N.options())
                                        .index_put({routing.sample}, target_N);
      const torch::Tensor has_S = count_S > 0;
      const torch::Tensor mean_SE = sum_SE / count_S.clamp_min(1).unsqueeze(1);
      const torch::Tensor nll_S =
          -torch::log(mean_SE.gather(1, label_S.unsqueeze(1)).squeeze(1) + 1e-9);
      label = MeanOverValid(nll_S, has_S);
    } else if (spec_.routing() == moe::v1::ROUTING_MODE_LABEL_FORCED) {
      // The router learns the labels, so inference needs none.
      const torch::Tensor nll_N = F::cross_entropy(
          logits_NE, target_N, F::CrossEntropyFuncOptions().reduction(torch::kNone));
      label = MeanOverValid(nll_N, labelled_N);
    }
  }
  out.aux_loss = spec_.load_balance_loss_weight() * lb + spec_.z_loss_weight() * z +
                 spec_.label_loss_weight() * label;

  const torch::Tensor entropy_N = -(probs_NE * torch::log(probs_NE.clamp_min(1e-12))).sum(1);
  torch::NoGradGuard no_grad;
  out.stats.tokens_per_expert = counts.narrow(0, 0, num_experts_);
  out.stats.dropped = valid_tokens * k - out.stats.tokens_per_expert.sum();
  out.stats.load_balance_loss = lb.detach();
  out.stats.z_loss = z.detach();
  out.stats.label_loss = label.detach();
  out.stats.router_entropy = MeanOverValid(entropy_N, routing.valid).detach();
  return out;
}

}  // namespace moe::worker
