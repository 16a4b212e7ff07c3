// Resuming mid-epoch: time to the first batch after seeking to the last sample of a large
// synthetic data set, against seeking to sample 0, and against the original script's way
// (reading and dropping every batch before the position). Prints one JSON object.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>

#include "CLI/CLI.hpp"
#include "common/spec_defaults.h"
#include "nlohmann/json.hpp"
#include "worker/data/data_loader.h"
#include "worker/data/dataset.h"

namespace {

double Seconds(const std::function<void()>& f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Seek-to-position cost of the data loader on a large synthetic data set"};
  int records = 100000;
  std::string tokenizer_path =
      std::string(MOE_SOURCE_DIR) + "/assets/tiny-tokenizer/tokenizer.json";
  app.add_option("--records", records)->capture_default_str();
  app.add_option("--tokenizer", tokenizer_path)->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  const std::filesystem::path file =
      std::filesystem::temp_directory_path() / "moe_seek_bench.jsonl";
  {
    std::ofstream out(file);
    std::mt19937 rng(1);
    const char* words[] = {"who",  "wrote", "river", "capital", "largest",
                           "year", "many",  "why",   "moon",    "city"};
    for (int i = 0; i < records; ++i) {
      std::string q;
      for (int w = 0; w < 5 + static_cast<int>(rng() % 10); ++w)
        q += std::string(w ? " " : "") + words[rng() % 10];
      out << nlohmann::json{{"question", q}, {"answer", words[rng() % 10]}, {"expert_label", "x"}}
                 .dump()
          << '\n';
    }
  }
  auto tokenizer = std::move(moe::worker::Tokenizer::FromFile(tokenizer_path)).value();
  moe::v1::DataSpec spec;
  spec.set_train_file(file.string());
  spec.set_max_seq_len(256);
  spec.set_max_target_len(64);
  spec.set_prompt_template(moe::common::kDefaultPromptTemplate);
  std::unique_ptr<moe::worker::Dataset> dataset;
  const double load = Seconds(
      [&] { dataset = std::move(moe::worker::Dataset::Load(spec, *tokenizer, {})).value(); });
  moe::worker::LoaderOptions options;
  options.max_seq_len = 256;
  moe::worker::DataLoader loader(*dataset, options);
  moe::worker::Batch batch;
  const uint64_t last = dataset->size() - 1;
  constexpr int kRepeats = 200;
  const double at_zero = Seconds([&] {
                           for (int i = 0; i < kRepeats; ++i) {
                             loader.Seek(0, 0);
                             loader.Next(&batch);
                           }
                         }) /
                         kRepeats;
  const double at_last = Seconds([&] {
                           for (int i = 0; i < kRepeats; ++i) {
                             loader.Seek(0, last);
                             loader.Next(&batch);
                           }
                         }) /
                         kRepeats;
  int64_t skipped = 0;
  const double skipping = Seconds([&] {  // read and drop batches until the position is reached
    loader.Seek(0, 0);
    while (loader.position() < last && loader.Next(&batch)) ++skipped;
  });
  std::cout << nlohmann::json{{"records", dataset->size()},
                              {"load_and_tokenize_s", load},
                              {"first_batch_after_seek_to_0_ms", 1e3 * at_zero},
                              {"first_batch_after_seek_to_last_ms", 1e3 * at_last},
                              {"ratio_last_over_0", at_last / at_zero},
                              {"skip_batches_to_last_ms", 1e3 * skipping},
                              {"batches_skipped", skipped}}
                   .dump(1)
            << std::endl;
  std::filesystem::remove(file);
  return 0;
}
