// Forward + backward of a small MPT-MoE on CPU, for the side-by-side comparison with the same
// model in Python PyTorch (model_step_bench.py; scripts/bench_model.sh runs both). Prints one
// JSON object: {"ms_per_step", "tokens_per_s", "loss"}.
#include <torch/torch.h>

#include <chrono>
#include <iostream>

#include "CLI/CLI.hpp"
#include "nlohmann/json.hpp"
#include "worker/model/mpt_model.h"

int main(int argc, char** argv) {
  CLI::App app{"Time forward + backward steps of a random MPT-MoE on CPU"};
  int d_model = 256, heads = 8, layers = 4, experts = 4, top_k = 1, vocab = 2048, batch = 4,
      seq = 256, steps = 10, warmup = 2, threads = 1;
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--d-model", d_model)->capture_default_str();
  app.add_option("--heads", heads)->capture_default_str();
  app.add_option("--layers", layers)->capture_default_str();
  app.add_option("--experts", experts, "0: dense")->capture_default_str();
  app.add_option("--top-k", top_k)->capture_default_str();
  app.add_option("--vocab", vocab)->capture_default_str();
  app.add_option("--batch", batch)->capture_default_str();
  app.add_option("--seq", seq)->capture_default_str();
  app.add_option("--steps", steps)->capture_default_str();
  app.add_option("--warmup", warmup)->capture_default_str();
  app.add_option("--threads", threads)->capture_default_str();
  CLI11_PARSE(app, argc, argv);  // repeated flags: the last wins, as in the Python twin

  torch::set_num_threads(threads);
  moe::v1::MptConfig config;
  config.set_d_model(d_model);
  config.set_n_heads(heads);
  config.set_n_layers(layers);
  config.set_expansion_ratio(4);
  config.set_max_seq_len(seq);
  config.set_vocab_size(vocab);
  config.set_alibi_bias_max(8);
  config.set_layer_norm_eps(1e-5);
  moe::v1::MoeSpec moe;
  for (int e = 0; e < experts; ++e) moe.add_experts("e" + std::to_string(e));
  moe.set_top_k(top_k);
  moe.set_all_layers(true);
  moe.set_load_balance_loss_weight(0.01);
  moe.set_z_loss_weight(0.001);
  moe.set_routing(moe::v1::ROUTING_MODE_LEARNED);
  moe::worker::MptForCausalLM model(config, moe);
  model->InitializeWeights(0);
  torch::manual_seed(0);
  const torch::Tensor ids = torch::randint(vocab, {batch, seq});
  const torch::Tensor labels = torch::randint(vocab, {batch * seq});
  double loss_value = 0;
  auto step = [&] {
    const moe::worker::ModelOutput out = model->forward({ids, {}, {}});
    const torch::Tensor loss =
        torch::cross_entropy_loss(out.logits_BTV.reshape({-1, vocab}), labels) + out.aux_loss;
    loss.backward();
    model->zero_grad();
    loss_value = loss.item<double>();
  };
  for (int i = 0; i < warmup; ++i) step();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) step();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << nlohmann::json{{"ms_per_step", 1e3 * seconds / steps},
                              {"tokens_per_s", batch * seq * steps / seconds},
                              {"loss", loss_value}}
                   .dump()
            << std::endl;
  return 0;
}
