// Checkpoint write throughput (the full commit protocol: safetensors hashed as written,
// manifest, fsyncs, rename) of a model of chosen size, and the host snapshot an asynchronous
// save stalls training for. Prints one JSON object with bytes and seconds;
// scripts/bench_checkpoint.sh puts it beside `dd ... conv=fsync` of random data of the same size.
#include <torch/torch.h>

#include <chrono>
#include <filesystem>
#include <iostream>

#include "CLI/CLI.hpp"
#include "common/spec_loader.h"
#include "nlohmann/json.hpp"
#include "worker/train/adamw.h"
#include "worker/train/checkpoint.h"
#include "worker/train/flat_parameters.h"

int main(int argc, char** argv) {
  CLI::App app{"Time SaveCheckpoint for a random MPT-MoE"};
  int d_model = 512, layers = 8, experts = 4, repeats = 3;
  std::string dir = "/tmp/moe_ckpt_bench";
  app.add_option("--d-model", d_model)->capture_default_str();
  app.add_option("--layers", layers)->capture_default_str();
  app.add_option("--experts", experts)->capture_default_str();
  app.add_option("--repeats", repeats)->capture_default_str();
  app.add_option("--dir", dir)->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  auto spec = std::move(moe::common::LoadJobSpec(std::string(MOE_SOURCE_DIR) +
                                                 "/configs/jobs/tiny-cpu.yaml"))
                  .value();
  moe::v1::MptConfig* c = spec.mutable_model()->mutable_config();
  c->set_d_model(d_model);
  c->set_n_heads(8);
  c->set_n_layers(layers);
  c->set_vocab_size(2048);
  spec.mutable_model()->mutable_moe()->clear_experts();
  for (int e = 0; e < experts; ++e)
    spec.mutable_model()->mutable_moe()->add_experts("e" + std::to_string(e));
  moe::worker::MptForCausalLM model(*c, spec.model().moe());
  moe::worker::FlatParameters flat(*model);
  moe::worker::AdamW adam(spec.training(), flat, 0, flat.params().numel());
  moe::worker::LocalCommunicator single;
  std::filesystem::remove_all(dir);
  double seconds = 0;
  uint64_t bytes = 0;
  for (int r = 0; r < repeats; ++r) {
    moe::worker::TrainingState state;
    state.step = r + 1;
    const auto start = std::chrono::steady_clock::now();
    auto path = moe::worker::SaveCheckpoint(dir, state, spec, model, adam, flat, single);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!path.ok()) {
      std::cerr << path.status() << std::endl;
      return 1;
    }
    bytes = 0;
    for (const auto& f : std::filesystem::directory_iterator(*path)) bytes += f.file_size();
  }
  // What an asynchronous save stalls training for: the host snapshot (its buffers reused
  // after the first, as the trainer does).
  const std::string tokenizer = moe::worker::ReadTokenizerJson(spec).value();
  moe::worker::CheckpointSnapshot reuse;
  double snapshot_seconds = 0;
  for (int r = 0; r <= repeats; ++r) {
    moe::worker::TrainingState state;
    const auto start = std::chrono::steady_clock::now();
    moe::worker::CheckpointSnapshot snapshot =
        moe::worker::TakeSnapshot(state, spec, tokenizer, model, adam, flat, 0, 1,
                                  moe::worker::SnapshotKind::kHostCopy, &reuse);
    if (r > 0) {  // the first allocates
      snapshot_seconds +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    reuse = std::move(snapshot);
  }
  std::cout << nlohmann::json{{"parameters", flat.numel()},
                              {"checkpoint_bytes", bytes},
                              {"seconds_per_checkpoint", seconds / repeats},
                              {"mb_per_s", bytes / 1e6 / (seconds / repeats)},
                              {"snapshot_seconds", snapshot_seconds / repeats}}
                   .dump()
            << std::endl;
  std::filesystem::remove_all(dir);
  return 0;
}
