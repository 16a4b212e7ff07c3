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

ExpertsImpl::ExpertsImpl(int64_t num_experts, int64_t d_model, int64_t hidden)
    // Kaiming-normal (fan_in), as a Linear layer would be; MptForCausalLM re-initialises.
    : up_proj(register_parameter(
          "up_proj", torch::randn({num_experts, hidden, d_model}) * std::sqrt(2.0 / d_model))),
      down_proj(register_parameter(
          "down_proj", torch::randn({num_experts, d_model, hidden}) * std::sqrt(2.0 / hidden))) {}

MoeFfnImpl::MoeFfnImpl(int64_t d_model, int64_t hidden, const moe::v1::MoeSpec& spec)
    : spec_(spec), num_experts_(spec.experts_size()) {
  router = register_module(
      "router", torch::nn::Linear(torch::nn::LinearOptions(d_model, num_experts_).bias(false)));
  experts = register_module("experts", Experts(num_experts_, d_model, hidden));
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

torch::Tensor MoeFfnImpl::WithinCapacity(const torch::Tensor& expert_A, const torch::Tensor& keep_A,
                                         int64_t valid_tokens) const {
  if (spec_.capacity_factor() <= 0) return keep_A;  // dropless
  const int64_t capacity = std::max<int64_t>(
      static_cast<int64_t>(std::ceil(static_cast<double>(valid_tokens) / num_experts_ *
                                     spec_.capacity_factor() * spec_.top_k())),
      spec_.min_capacity());
  // Slot-major order: every token's first choice is served before any second choice, and
  // earlier tokens before later ones (as GShard and DeepSpeed do).
  const torch::Tensor onehot_AE =
      F::one_hot(expert_A, num_experts_).to(torch::kInt64) * keep_A.unsqueeze(1);
  const torch::Tensor position_A = (onehot_AE.cumsum(0) * onehot_AE).sum(1) - 1;
  return keep_A & (position_A < capacity);
}

torch::Tensor MoeFfnImpl::RunExperts(const torch::Tensor& x_ND, const torch::Tensor& token_A,
                                     const torch::Tensor& expert_A,
                                     const torch::Tensor& weight_A) const {
  // Group assignments by expert, then one matmul pair per expert over its tokens.
  const torch::Tensor order = std::get<1>(torch::sort(expert_A, /*stable=*/true, 0, false));
  const torch::Tensor token_sorted = token_A.index_select(0, order);
  const torch::Tensor weight_sorted = weight_A.index_select(0, order);
  const torch::Tensor counts = torch::bincount(expert_A, {}, num_experts_).cpu();
  const torch::Tensor x_sorted = x_ND.index_select(0, token_sorted);
  std::vector<torch::Tensor> outputs;
  int64_t start = 0;
  for (int64_t e = 0; e < num_experts_; ++e) {
    const int64_t n = counts[e].item<int64_t>();
    const torch::Tensor x_nD = x_sorted.narrow(0, start, n);
    const torch::Tensor h_nF = torch::gelu(torch::matmul(x_nD, experts->up_proj[e].t()));
    outputs.push_back(torch::matmul(h_nF, experts->down_proj[e].t()));
    start += n;
  }
  const torch::Tensor out_AD =
      torch::cat(outputs, 0) * weight_sorted.to(x_ND.scalar_type()).unsqueeze(1);
  return torch::zeros_like(x_ND).index_add(0, token_sorted, out_AD);
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
  const int64_t valid_tokens = routing.valid.sum().item<int64_t>();
  const torch::Tensor keep_A = WithinCapacity(expert_A, valid_A, valid_tokens);
  const torch::Tensor kept = keep_A.nonzero().squeeze(1);

  MoeOutput out;
  out.y_ND = RunExperts(x_ND, token_A.index_select(0, kept), expert_A.index_select(0, kept),
                        weight_A.index_select(0, kept));

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
  out.stats.tokens_per_expert =
      torch::bincount(expert_A.index_select(0, kept), {}, num_experts_).cpu();
  out.stats.dropped = valid_tokens * k - kept.size(0);
  out.stats.load_balance_loss = lb.item<double>();
  out.stats.z_loss = z.item<double>();
  out.stats.label_loss = label.item<double>();
  out.stats.router_entropy = MeanOverValid(entropy_N, routing.valid).item<double>();
  return out;
}

}  // namespace moe::worker
