#include "worker/train/json_lines_progress.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace moe::worker {

absl::StatusOr<std::unique_ptr<JsonLinesProgress>> JsonLinesProgress::Open(
    const std::filesystem::path& path) {
  std::ofstream out(path, std::ios::app);
  if (!out) {
    return absl::InternalError(
        absl::StrCat(path.string(), ": cannot open for appending: ", std::strerror(errno)));
  }
  return std::unique_ptr<JsonLinesProgress>(new JsonLinesProgress(std::move(out)));
}

void JsonLinesProgress::OnStep(const StepReport& r) {
  nlohmann::json line = {{"event", "step"},
                         {"step", r.step},
                         {"total_steps", r.total_steps},
                         {"batch", r.batch},
                         {"total_batches", r.total_batches},
                         {"epoch", r.epoch},
                         {"loss", r.loss},
                         {"aux_loss", r.aux_loss},
                         {"lr", r.lr},
                         {"grad_norm", r.grad_norm},
                         {"tokens_per_second", r.tokens_per_second},
                         {"expert_share", r.expert_share},
                         {"samples_per_second", r.samples_per_second},
                         {"step_seconds", r.step_seconds},
                         {"model_flops_per_second", r.model_flops_per_second}};
  if (r.peak_flops_per_second > 0) {
    line["mfu"] = r.model_flops_per_second / r.peak_flops_per_second;
  }
  nlohmann::json layers = nlohmann::json::array();
  for (const LayerReport& l : r.layers) {
    layers.push_back({{"layer", l.layer},
                      {"expert_share", l.expert_share},
                      {"dropped_fraction", l.dropped_fraction},
                      {"load_balance_loss", l.load_balance_loss},
                      {"z_loss", l.z_loss},
                      {"router_entropy", l.router_entropy}});
  }
  line["layers"] = layers;
  out_ << line.dump() << std::endl;
}

void JsonLinesProgress::OnCheckpoint(const CheckpointReport& c) {
  out_ << nlohmann::json{{"event", "checkpoint"},
                         {"step", c.step},
                         {"dir", c.dir},
                         {"seconds", c.seconds},
                         {"bytes", c.bytes}}
              .dump()
       << std::endl;
}

void JsonLinesProgress::OnCheckpointFailed(const CheckpointFailure& failure) {
  out_ << nlohmann::json{{"event", "checkpoint_failed"}, {"step", failure.step},
                         {"error", failure.error},       {"disk_full", failure.disk_full},
                         {"dir", failure.dir},           {"bytes_needed", failure.bytes_needed}}
              .dump()
       << std::endl;
}

}  // namespace moe::worker
