// MoE FFN invariants: upcycled experts equal the dense FFN, top-1 without renormalisation is
// p_max * FFN(x), the loss formulas at their known points, exact capacity dropping, and router
// gradients in every routing mode.
#include "worker/model/moe_ffn.h"

#include <cmath>

#include "gtest/gtest.h"
#include "tests/testing/model_test_util.h"
#include "worker/model/ffn.h"

namespace moe::worker {
namespace {

using testing::MaxAbsDiff;
using testing::MoeSpecOf;

constexpr int64_t kD = 16, kF = 64, kN = 40;

RoutingInputs AllValid(int64_t n) {
  RoutingInputs r;
  r.valid = torch::ones({n}, torch::kBool);
  r.sample = torch::zeros({n}, torch::kInt64);
  r.num_samples = 1;
  return r;
}

// An MoE layer whose experts are all copies of `dense`.
MoeFfn Upcycled(Ffn& dense, const moe::v1::MoeSpec& spec) {
  MoeFfn moe(kD, kF, spec);
  torch::NoGradGuard no_grad;
  for (int e = 0; e < spec.experts_size(); ++e) {
    moe->experts->up_proj[e].copy_(dense->up_proj->weight);
    moe->experts->down_proj[e].copy_(dense->down_proj->weight);
  }
  return moe;
}

TEST(MoeFfn, UpcycledLayerEqualsDenseFfnWithRenormalisedTopK) {
  torch::manual_seed(1);
  Ffn dense(kD, kF);
  const torch::Tensor x = torch::randn({kN, kD});
  for (int k : {1, 2}) {
    MoeFfn moe = Upcycled(dense, MoeSpecOf(4, k, /*normalize=*/true));
    const MoeOutput out = moe(x, AllValid(kN));
    EXPECT_LT(MaxAbsDiff(out.y_ND, dense(x)), 1e-5) << "top-" << k;
    EXPECT_EQ(out.stats.dropped.item<int64_t>(), 0);
    EXPECT_EQ(out.stats.tokens_per_expert.sum().item<int64_t>(), kN * k);
  }
}

TEST(MoeFfn, TopOneWithoutRenormalisationScalesByTheTopProbability) {
  torch::manual_seed(2);
  Ffn dense(kD, kF);
  MoeFfn moe = Upcycled(dense, MoeSpecOf(4, 1, /*normalize=*/false));
  const torch::Tensor x = torch::randn({kN, kD});
  const torch::Tensor p_max = std::get<0>(torch::softmax(moe->router(x), 1).max(1));
  EXPECT_LT(MaxAbsDiff(moe(x, AllValid(kN)).y_ND, p_max.unsqueeze(1) * dense(x)), 1e-5);
}

TEST(MoeFfn, LoadBalanceLossIsOneAtPerfectBalance) {
  const int64_t e = 4, n = 8;
  const torch::Tensor probs = torch::full({n, e}, 1.0 / e);
  const torch::Tensor first = torch::arange(n) % e;
  const torch::Tensor valid = torch::ones({n}, torch::kBool);
  EXPECT_NEAR(LoadBalanceLoss(probs, first, valid).item<double>(), 1.0, 1e-6);
  // All tokens on one expert with all the probability: E.
  const torch::Tensor skewed = torch::zeros({n, e}).index_fill(1, torch::tensor({0}), 1.0);
  EXPECT_NEAR(LoadBalanceLoss(skewed, torch::zeros({n}, torch::kInt64), valid).item<double>(), e,
              1e-6);
  // Padding does not count: the invalid tokens' skew changes nothing.
  const torch::Tensor mixed_probs = torch::cat({probs, skewed});
  const torch::Tensor mixed_first = torch::cat({first, torch::zeros({n}, torch::kInt64)});
  const torch::Tensor mixed_valid = torch::cat({valid, torch::zeros({n}, torch::kBool)});
  EXPECT_NEAR(LoadBalanceLoss(mixed_probs, mixed_first, mixed_valid).item<double>(), 1.0, 1e-6);
}

TEST(MoeFfn, ZLossIsLogESquaredForZeroLogits) {
  for (int64_t e : {2, 4, 8}) {
    const double expected = std::pow(std::log(static_cast<double>(e)), 2);
    EXPECT_NEAR(RouterZLoss(torch::zeros({5, e}), torch::ones({5}, torch::kBool)).item<double>(),
                expected, 1e-6);
  }
  // And through the layer: a zero router gives the same z-loss.
  MoeFfn moe(kD, kF, MoeSpecOf(4, 1));
  torch::NoGradGuard no_grad;
  moe->router->weight.zero_();
  EXPECT_NEAR(moe(torch::randn({kN, kD}), AllValid(kN)).stats.z_loss.item<double>(),
              std::pow(std::log(4.0), 2), 1e-6);
}

TEST(MoeFfn, CapacityDropsExactlyTheTokensPastCapacity) {
  // Router: token n prefers expert (n % 3 == 0 ? 0 : 1); experts 2 and 3 get nothing.
  const int64_t e = 4, n = 12;
  moe::v1::MoeSpec spec = MoeSpecOf(e, 1);
  spec.set_capacity_factor(1.0);  // capacity = ceil(12 / 4 * 1 * 1) = 3
  MoeFfn moe(kD, kF, spec);
  torch::Tensor x = torch::zeros({n, kD});
  {
    torch::NoGradGuard no_grad;
    moe->router->weight.zero_();
    moe->router->weight[0][0] = 10;
    moe->router->weight[1][1] = 10;
    for (int64_t t = 0; t < n; ++t) {
      x[t][t % 3 == 0 ? 0 : 1] = 1;
      x[t][2 + t] = 1;  // distinct tokens
    }
  }
  const MoeOutput out = moe(x, AllValid(n));
  // Expert 0 wants tokens 0, 3, 6, 9 and keeps the first 3; expert 1 wants 8 and keeps 3.
  EXPECT_EQ(out.stats.tokens_per_expert[0].item<int64_t>(), 3);
  EXPECT_EQ(out.stats.tokens_per_expert[1].item<int64_t>(), 3);
  EXPECT_EQ(out.stats.dropped.item<int64_t>(), n - 6);
  const std::vector<int64_t> kept = {0, 1, 2, 3, 4, 6};  // earliest per expert
  for (int64_t t = 0; t < n; ++t) {
    const bool is_kept = std::find(kept.begin(), kept.end(), t) != kept.end();
    EXPECT_EQ(out.y_ND[t].abs().sum().item<double>() > 0, is_kept) << "token " << t;
  }
}

TEST(MoeFfn, PaddingNeitherRoutesNorCounts) {
  MoeFfn moe(kD, kF, MoeSpecOf(4, 2));
  RoutingInputs r = AllValid(kN);
  r.valid.slice(0, kN / 2).fill_(false);
  const MoeOutput out = moe(torch::randn({kN, kD}), r);
  EXPECT_EQ(out.stats.tokens_per_expert.sum().item<int64_t>(), kN / 2 * 2);
  EXPECT_EQ(out.y_ND.slice(0, kN / 2).abs().sum().item<double>(), 0.0);
}

TEST(MoeFfn, GradientsReachTheRouterInEveryRoutingMode) {
  for (auto mode : {moe::v1::ROUTING_MODE_LEARNED, moe::v1::ROUTING_MODE_LABEL_GUIDED,
                    moe::v1::ROUTING_MODE_LABEL_FORCED}) {
    for (int k : {1, 2}) {
      moe::v1::MoeSpec spec = MoeSpecOf(4, k);
      spec.set_routing(mode);
      spec.set_load_balance_loss_weight(0);  // only the output and the label loss remain
      spec.set_z_loss_weight(0);
      MoeFfn moe(kD, kF, spec);
      RoutingInputs r = AllValid(kN);
      r.expert_label = torch::arange(kN) % 4;
      r.sample = torch::arange(kN).div(10, "floor");
      r.num_samples = kN / 10;
      const MoeOutput out = moe(torch::randn({kN, kD}), r);
      (out.y_ND.pow(2).sum() + out.aux_loss).backward();
      const torch::Tensor grad = moe->router->weight.grad();
      ASSERT_TRUE(grad.defined()) << "mode " << mode << " k " << k;
      EXPECT_GT(grad.abs().sum().item<double>(), 0) << "mode " << mode << " k " << k;
      if (mode != moe::v1::ROUTING_MODE_LEARNED) EXPECT_GT(out.stats.label_loss.item<double>(), 0);
    }
  }
}

TEST(MoeFfn, LabelForcedSendsTrainingTokensToTheirLabelledExpert) {
  moe::v1::MoeSpec spec = MoeSpecOf(4, 1);
  spec.set_routing(moe::v1::ROUTING_MODE_LABEL_FORCED);
  MoeFfn moe(kD, kF, spec);
  RoutingInputs r = AllValid(kN);
  r.expert_label = torch::full({kN}, 2, torch::kInt64);
  const MoeOutput out = moe(torch::randn({kN, kD}), r);
  EXPECT_EQ(out.stats.tokens_per_expert[2].item<int64_t>(), kN);
  moe->eval();  // inference routes by the router alone
  const MoeOutput eval = moe(torch::randn({kN, kD}), r);
  EXPECT_LT(eval.stats.tokens_per_expert[2].item<int64_t>(), kN);
}

}  // namespace
}  // namespace moe::worker
