// Small random models and helpers shared by the model tests.
#ifndef MOE_TESTS_TESTING_MODEL_TEST_UTIL_H_
#define MOE_TESTS_TESTING_MODEL_TEST_UTIL_H_

#include <torch/torch.h>

#include <filesystem>
#include <string>

#include "moe/v1/job.pb.h"
#include "tests/testing/source_dir.h"
#include "worker/model/mpt_model.h"

namespace moe::worker::testing {

inline moe::v1::MptConfig SmallConfig(int d_model = 48, int n_heads = 6, int n_layers = 2) {
  moe::v1::MptConfig c;
  c.set_d_model(d_model);
  c.set_n_heads(n_heads);
  c.set_n_layers(n_layers);
  c.set_expansion_ratio(4);
  c.set_max_seq_len(64);
  c.set_vocab_size(97);
  c.set_alibi_bias_max(8);
  c.set_layer_norm_eps(1e-5);
  return c;
}

inline moe::v1::MoeSpec MoeSpecOf(int experts, int top_k, bool normalize = false) {
  moe::v1::MoeSpec m;
  for (int e = 0; e < experts; ++e) m.add_experts("e" + std::to_string(e));
  m.set_top_k(top_k);
  m.set_all_layers(true);
  m.set_min_capacity(1);
  m.set_normalize_top_k(normalize);
  m.set_load_balance_loss_weight(0.01);
  m.set_z_loss_weight(0.001);
  m.set_label_loss_weight(0.1);
  m.set_routing(moe::v1::ROUTING_MODE_LEARNED);
  return m;
}

// A fresh directory under the test temp dir, unique to this process and `name`.
inline std::filesystem::path TempDir(const std::string& name) {
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) /
                                    ("moe_" + std::to_string(getpid()) + "_" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

inline double MaxAbsDiff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

}  // namespace moe::worker::testing

#endif  // MOE_TESTS_TESTING_MODEL_TEST_UTIL_H_
