// moe-worker data: runs a job's data pipeline end to end (tokenizer, data set, packing, every
// rank's batches for one epoch) and reports what training would see, packing efficiency
// first.
#include <chrono>
#include <memory>
#include <string>

#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"
#include "worker/cli/cli_util.h"
#include "worker/cli/commands.h"
#include "worker/data/data_loader.h"
#include "worker/data/dataset.h"

namespace moe::worker {
namespace {

struct DataFlags {
  std::string spec;
  uint64_t epoch = 0;
};

struct EpochWalk {
  int64_t steps = 0, rows = 0, tokens = 0, loss_tokens = 0, samples = 0;
  double Efficiency(int32_t seq_len) const {
    return rows == 0 ? 0 : static_cast<double>(tokens) / (static_cast<double>(rows) * seq_len);
  }
};

// Reads every rank's batches for `epoch` and adds them up.
EpochWalk Walk(const Dataset& dataset, LoaderOptions options, uint64_t epoch) {
  EpochWalk walk;
  Batch batch;
  for (int32_t rank = 0; rank < options.world_size; ++rank) {
    options.rank = rank;
    DataLoader loader(dataset, options);
    loader.Seek(epoch, 0);
    int64_t steps = 0;
    while (loader.Next(&batch)) {
      ++steps;
      for (int32_t r = 0; r < batch.rows; ++r)
        walk.rows += batch.segment_ids[r * batch.seq_len] != 0;
      walk.tokens += batch.tokens;
      walk.loss_tokens += batch.loss_tokens;
      walk.samples += static_cast<int64_t>(batch.samples.size());
    }
    walk.steps = steps;
  }
  return walk;
}

absl::Status RunData(const DataFlags& flags) {
  const auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(const JobFiles job, LoadJobFiles(flags.spec));
  const moe::v1::JobSpec* spec = &job.spec;
  const std::vector<std::string> experts(spec->model().moe().experts().begin(),
                                         spec->model().moe().experts().end());
  ASSIGN_OR_RETURN(const std::unique_ptr<Dataset> dataset,
                   Dataset::Load(spec->data(), *job.tokenizer, experts));
  const Dataset& data = *dataset;
  const DatasetStats& stats = data.stats();
  int64_t total = 0;
  for (size_t i = 0; i < data.size(); ++i) total += data.length(i);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  spdlog::info(
      "{} samples from {} in {:.2f} s ({} lines, {} skipped, {} answers and {} prompts "
      "truncated), {:.1f} tokens per sample",
      data.size(), spec->data().train_file(), seconds, stats.lines, stats.skipped,
      stats.answers_truncated, stats.prompts_truncated, static_cast<double>(total) / data.size());
  std::vector<std::string> per_expert;
  for (size_t e = 0; e < experts.size(); ++e) {
    per_expert.push_back(fmt::format("{} {}", experts[e], stats.per_expert[e]));
  }
  if (!per_expert.empty()) spdlog::info("experts: {}", absl::StrJoin(per_expert, ", "));

  LoaderOptions options;
  options.micro_batch_size = static_cast<int32_t>(spec->training().micro_batch_size());
  options.max_seq_len = static_cast<int32_t>(spec->data().max_seq_len());
  options.seed = spec->training().seed();
  options.world_size = static_cast<int32_t>(spec->resources().world_size());
  for (const bool packing : {true, false}) {
    options.packing = packing;
    const auto walk_start = std::chrono::steady_clock::now();
    const EpochWalk walk = Walk(data, options, flags.epoch);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - walk_start)
            .count();
    spdlog::info(
        "{}{}: {} rows of {} tokens, packing efficiency {:.1f}% (useful / processed "
        "tokens), loss on {:.1f}% of processed tokens; {} micro-steps of {} x {} rows; "
        "epoch {} walked on all ranks in {:.1f} ms",
        packing ? "packed" : "padded", packing == spec->data().packing() ? " (this job)" : "",
        walk.rows, options.max_seq_len, 100 * walk.Efficiency(options.max_seq_len),
        100.0 * walk.loss_tokens / (static_cast<double>(walk.rows) * options.max_seq_len),
        walk.steps, options.world_size, options.micro_batch_size, flags.epoch, ms);
  }
  return absl::OkStatus();
}

}  // namespace

void AddDataCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<DataFlags>();
  CLI::App* cmd = app.add_subcommand(
      "data",
      "Run a job's data pipeline end to end (tokenize, pack, batch for every rank, one epoch) "
      "and report samples, experts and packing efficiency, packed and padded.");
  cmd->add_option("--spec", flags->spec, "Job spec (YAML)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--epoch", flags->epoch, "Epoch whose order to walk")->capture_default_str();
  cmd->callback([flags, exit_code] { *exit_code = ExitCode(RunData(*flags)); });
}

}  // namespace moe::worker
