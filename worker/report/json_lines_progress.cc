#include "worker/report/json_lines_progress.h"

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
                         {"epoch", r.epoch}};
  common::PutByKey(r.values, common::MetricScope::kRun, &line);
  line[std::string(common::kExpertShare.key)] = r.expert_share;
  nlohmann::json layers = nlohmann::json::array();
  for (const LayerReport& l : r.layers) {
    nlohmann::json layer = {{"layer", l.layer}};
    layer[std::string(common::kExpertShare.key)] = l.expert_share;
    common::PutByKey(l.values, common::MetricScope::kLayer, &layer);
    layers.push_back(std::move(layer));
  }
  line["layers"] = std::move(layers);
  out_ << line.dump() << std::endl;
}

void JsonLinesProgress::OnCheckpoint(const CheckpointReport& c) {
  out_ << nlohmann::json{{"event", "checkpoint"},
                         {"step", c.step},
                         {"dir", c.dir},
                         {"seconds", c.seconds},
                         {"stall_seconds", c.stall_seconds},
                         {"async", c.async},
                         {"bytes", c.bytes},
                         {"interval_steps", c.interval_steps},
                         {"interval_why", c.interval_why}}
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
