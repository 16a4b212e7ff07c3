// The MPT model: ALiBi slopes, parameter counts without allocation, logits equal to an
// independent Python implementation (dense and MoE, packed rows), the causal mask and
// per-sample masking as invariants.
#include "worker/model/mpt_model.h"

#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/model_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/model_test_util.h"
#include "worker/model/alibi.h"
#include "worker/model/hf_checkpoint.h"
#include "worker/model/safetensors.h"

namespace moe::worker {
namespace {

using ::testing::DoubleNear;
using ::testing::ElementsAre;
using testing::MaxAbsDiff;
using testing::MoeSpecOf;
using ::testing::Pointwise;
using testing::SmallConfig;

TEST(Alibi, SlopesMatchMpt) {
  EXPECT_THAT(AlibiSlopes(4, 8),
              Pointwise(DoubleNear(1e-12), {0.25, 0.0625, 0.015625, 0.00390625}));
  const std::vector<double> h12 = AlibiSlopes(12, 8);
  ASSERT_EQ(h12.size(), 12u);
  // The odd-indexed slopes of 16 heads, then the even ones: 2^-1 .. 2^-8, then 2^-0.5 ...
  EXPECT_THAT(std::vector<double>(h12.begin(), h12.begin() + 8),
              Pointwise(DoubleNear(1e-12),
                        {0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625}));
  EXPECT_THAT(std::vector<double>(h12.begin() + 8, h12.end()),
              Pointwise(DoubleNear(1e-7), {0.7071068, 0.3535534, 0.1767767, 0.0883883}));
  const std::vector<double> h32 = AlibiSlopes(32, 8);
  for (int h = 1; h <= 32; ++h) EXPECT_NEAR(h32[h - 1], std::pow(2.0, -h / 4.0), 1e-12);
}

TEST(ParameterCount, Mpt7bWithoutAllocating) {
  moe::v1::MptConfig c;
  c.set_d_model(4096);
  c.set_n_heads(32);
  c.set_n_layers(32);
  c.set_expansion_ratio(4);
  c.set_vocab_size(50432);
  const common::ParameterCount dense = common::CountParameters(c, moe::v1::MoeSpec());
  EXPECT_EQ(dense.total, 6'649'286'656);
  EXPECT_EQ(dense.active_per_token, dense.total);
  // 4 experts top-1 in every layer: 3 more FFNs per layer plus routers; active = dense + routers.
  const common::ParameterCount moe = common::CountParameters(c, MoeSpecOf(4, 1));
  const int64_t ffn = 2LL * 4096 * 16384, router = 4096LL * 4;
  EXPECT_EQ(moe.total, dense.total + 32 * (3 * ffn + router));
  EXPECT_EQ(moe.active_per_token, dense.total + 32 * router);
}

TEST(ParameterCount, MatchesTheAllocatedModel) {
  for (const auto& moe : {moe::v1::MoeSpec(), MoeSpecOf(4, 2)}) {
    moe::v1::MoeSpec every2 = moe;
    if (moe.experts_size() > 0) every2.set_every_n_layers(2);
    MptForCausalLM model(SmallConfig(48, 6, 4), every2);
    int64_t allocated = 0;
    for (const auto& p : model->parameters()) allocated += p.numel();
    EXPECT_EQ(common::CountParameters(SmallConfig(48, 6, 4), every2).total, allocated);
  }
}

// Logits [B, T, V] of `model` for ids with an optional packing layout.
torch::Tensor Logits(MptForCausalLM& model, const torch::Tensor& ids, torch::Tensor segments = {}) {
  torch::NoGradGuard no_grad;
  return model->forward({ids, segments, {}}).logits_BTV;
}

TEST(MptModel, ChangingATokenNeverChangesEarlierLogits) {
  // Dense: bit-exact. MoE: an expert's matmul then runs over a different set of rows, which
  // may round differently in the last bits, so allow 1e-5 there.
  for (const auto& [moe, tolerance] :
       {std::pair{moe::v1::MoeSpec(), 0.0}, std::pair{MoeSpecOf(4, 2), 1e-5}}) {
    torch::manual_seed(3);
    MptForCausalLM model(SmallConfig(), moe);
    model->InitializeWeights(7);
    const torch::Tensor ids = torch::randint(97, {1, 20});
    const torch::Tensor base = Logits(model, ids);
    for (int64_t t : {0, 5, 19}) {
      torch::Tensor changed = ids.clone();
      changed[0][t] = (changed[0][t].item<int64_t>() + 1) % 97;
      const torch::Tensor logits = Logits(model, changed);
      if (t > 0) EXPECT_LE(MaxAbsDiff(logits.slice(1, 0, t), base.slice(1, 0, t)), tolerance) << t;
      EXPECT_GT(MaxAbsDiff(logits.slice(1, t), base.slice(1, t)), 1e-3) << t;
    }
  }
}

TEST(MptModel, PackedSamplesSeeOnlyThemselves) {
  torch::manual_seed(4);
  MptForCausalLM model(SmallConfig(), MoeSpecOf(4, 1, true));  // dropless: routing is per token
  model->InitializeWeights(8);
  const torch::Tensor a = torch::randint(97, {1, 7}), b = torch::randint(97, {1, 9});
  const torch::Tensor packed = torch::cat({a, b, torch::zeros({1, 4}, torch::kInt64)}, 1);
  const torch::Tensor segments =
      torch::cat({torch::full({1, 7}, 1), torch::full({1, 9}, 2), torch::zeros({1, 4})}, 1)
          .to(torch::kInt64);
  const torch::Tensor logits = Logits(model, packed, segments);
  EXPECT_LT(MaxAbsDiff(logits.slice(1, 0, 7), Logits(model, a)), 1e-5);
  EXPECT_LT(MaxAbsDiff(logits.slice(1, 7, 16), Logits(model, b)), 1e-5);
  EXPECT_FALSE(logits.isnan().any().item<bool>());  // padding rows stay finite
}

TEST(MptModel, ListedLayersAreTheMoeLayers) {
  moe::v1::MoeSpec moe = MoeSpecOf(4, 1);
  moe.mutable_layer_list()->add_layers(0);
  moe.mutable_layer_list()->add_layers(2);
  MptForCausalLM model(SmallConfig(48, 6, 4), moe);
  model->InitializeWeights(3);
  const ModelOutput out = model->forward({torch::randint(97, {2, 8}), {}, {}});
  EXPECT_EQ(out.moe_stats.size(), 2u);  // one per MoE layer
  int64_t expert_tensors = 0, listed = 0;
  for (const auto& item : model->named_parameters()) {
    const std::string& name = item.key();
    if (name.find("router") == std::string::npos) continue;
    ++expert_tensors;
    listed += name.find(".0.") != std::string::npos || name.find(".2.") != std::string::npos;
  }
  EXPECT_GT(expert_tensors, 0);
  EXPECT_EQ(listed, expert_tensors);  // routers on blocks 0 and 2 only
}

TEST(MptModel, ActivationCheckpointingGivesTheSameGradients) {
  torch::manual_seed(6);
  moe::v1::MoeSpec moe = MoeSpecOf(4, 2);
  moe.set_every_n_layers(2);  // one dense block, one MoE block
  moe.set_routing(moe::v1::ROUTING_MODE_LABEL_GUIDED);
  const torch::Tensor ids = torch::randint(97, {2, 16});
  const torch::Tensor segments =
      torch::cat({torch::ones({2, 10}), torch::full({2, 6}, 2)}, 1).to(torch::kInt64);
  const torch::Tensor experts = torch::randint(4, {2, 16});
  std::vector<std::vector<torch::Tensor>> grads;
  std::vector<double> losses;
  for (bool checkpoint : {false, true}) {
    MptForCausalLM model(SmallConfig(48, 6, 2), moe);
    model->InitializeWeights(10);
    model->SetActivationCheckpointing(checkpoint);
    const ModelOutput out = model->forward({ids, segments, experts});
    const torch::Tensor loss = out.logits_BTV.pow(2).mean() + out.aux_loss;
    loss.backward();
    losses.push_back(loss.item<double>());
    EXPECT_EQ(out.moe_stats.size(), 1u);
    grads.emplace_back();
    for (const auto& p : model->parameters()) grads.back().push_back(p.grad().clone());
  }
  EXPECT_EQ(losses[0], losses[1]);
  for (size_t i = 0; i < grads[0].size(); ++i)
    EXPECT_LT(MaxAbsDiff(grads[0][i], grads[1][i]), 1e-6) << i;
}

TEST(MptModel, Bf16TracksFp32) {
  torch::manual_seed(7);
  const torch::Tensor ids = torch::randint(97, {2, 16});
  for (const auto& moe : {moe::v1::MoeSpec(), MoeSpecOf(4, 2, true)}) {
    MptForCausalLM model(SmallConfig(), moe);
    model->InitializeWeights(13);
    const torch::Tensor fp32 = Logits(model, ids);
    model->SetDtype(torch::kBFloat16);
    for (const auto& p : model->parameters()) EXPECT_EQ(p.scalar_type(), torch::kBFloat16);
    const ModelOutput out = model->forward({ids, {}, {}});
    EXPECT_EQ(out.logits_BTV.scalar_type(), torch::kBFloat16);
    // bf16 keeps 8 bits of mantissa. Dense: every logit within a few percent of the range.
    // MoE: a token whose top-2 is a near-tie may switch experts, so bound the mean instead.
    const double range = fp32.abs().max().item<double>();
    const torch::Tensor diff = (out.logits_BTV.to(torch::kFloat32) - fp32).abs();
    if (moe.experts_size() == 0) EXPECT_LT(diff.max().item<double>(), 0.05 * range);
    EXPECT_LT(diff.mean().item<double>(), 0.02 * range);
    (out.logits_BTV.to(torch::kFloat32).pow(2).mean() + out.aux_loss).backward();
    EXPECT_TRUE(model->transformer->wte->weight.grad().defined());
  }
}

// Saves `model`, runs tests/worker/model/mpt_reference.py on `ids` and `segments`, and
// returns its logits.
torch::Tensor ReferenceLogits(const std::filesystem::path& dir, const torch::Tensor& ids,
                              const torch::Tensor& segments) {
  auto to_list = [](const torch::Tensor& t) {
    nlohmann::json rows = nlohmann::json::array();
    for (int64_t b = 0; b < t.size(0); ++b) {
      std::vector<int64_t> row(t[b].data_ptr<int64_t>(), t[b].data_ptr<int64_t>() + t.size(1));
      rows.push_back(row);
    }
    return rows;
  };
  std::ofstream(dir / "inputs.json") << nlohmann::json{
      {"input_ids", to_list(ids.contiguous())}, {"segment_ids", to_list(segments.contiguous())}};
  const std::string command = absl::StrCat(
      MOE_PYTHON " ", (testing::kSourceDir / "tests/worker/model/mpt_reference.py").string(),
      " forward ", dir.string(), " ", (dir / "inputs.json").string(), " ",
      (dir / "reference.safetensors").string());
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  auto file = SafetensorsFile::Open(dir / "reference.safetensors");
  EXPECT_TRUE(file.ok()) << file.status();
  return *(*file)->Load("logits");
}

class MatchesPythonReference : public ::testing::TestWithParam<moe::v1::MoeSpec> {
 protected:
  void SetUp() override {
    if (std::system(MOE_PYTHON " -c 'import torch' 2>/dev/null") != 0) {
      GTEST_SKIP() << "no PyTorch in " MOE_PYTHON;
    }
  }
};

TEST_P(MatchesPythonReference, OnPackedRows) {
  torch::manual_seed(5);
  MptForCausalLM model(SmallConfig(48, 6, 2), GetParam());  // 6 heads: non-power-of-two ALiBi
  model->InitializeWeights(9);
  const std::filesystem::path dir = testing::TempDir("ref");
  ASSERT_TRUE(SaveHfModel(model, dir).ok());
  const torch::Tensor ids = torch::randint(97, {2, 12});
  const torch::Tensor segments =
      torch::tensor({1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1})
          .view({2, 12});
  const torch::Tensor expected = ReferenceLogits(dir, ids, segments);
  const torch::Tensor logits = Logits(model, ids, segments);
  ASSERT_EQ(logits.sizes(), expected.sizes());
  // Compare real tokens only: padding outputs are unspecified.
  const torch::Tensor real = (segments != 0).unsqueeze(2);
  EXPECT_LT(MaxAbsDiff(logits * real, expected * real), 2e-4);
}

INSTANTIATE_TEST_SUITE_P(DenseAndMoe, MatchesPythonReference,
                         ::testing::Values(moe::v1::MoeSpec(), MoeSpecOf(4, 1),
                                           MoeSpecOf(4, 2, true)));

}  // namespace
}  // namespace moe::worker
