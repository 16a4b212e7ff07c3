#include "worker/train/checkpoint_snapshot.h"

#include <torch/cuda.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/checkpoint_manifest.h"
#include "common/model_config.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "worker/model/hf_checkpoint.h"

namespace moe::worker {
namespace {

using Json = nlohmann::json;

// The optimizer's state over its range, each parameter's part under its name.
CheckpointSnapshot::File OptimizerShard(const AdamW& opt, const FlatParameters& flat, int rank,
                                        int world_size) {
  CheckpointSnapshot::File file;
  file.name = common::OptimizerShardName(rank, world_size);
  Json ranges = Json::object();
  for (const ParameterRange& r : flat.ranges()) {
    const int64_t lo = std::max(r.offset, opt.begin()),
                  hi = std::min(r.offset + r.numel, opt.end());
    if (lo >= hi) continue;  // another rank's
    ranges[r.name] = {lo - r.offset, hi - r.offset};
    for (auto [prefix, source] : {std::pair{"master/", &opt.master()},
                                  {"exp_avg/", &opt.exp_avg()},
                                  {"exp_avg_sq/", &opt.exp_avg_sq()}}) {
      file.tensors.emplace_back(prefix + r.name, source->narrow(0, lo - opt.begin(), hi - lo));
    }
  }
  file.metadata = {{"step", std::to_string(opt.step())}, {"ranges", ranges.dump()}};
  return file;
}

CheckpointSnapshot::File TextFile(std::string name, std::string text) {
  CheckpointSnapshot::File file;
  file.name = std::move(name);
  file.text = std::move(text);
  return file;
}

std::string TrainingStateJson(const TrainingState& state, const moe::v1::JobSpec& spec) {
  std::string spec_json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  // Printing a valid message to JSON cannot fail.
  (void)google::protobuf::util::MessageToJsonString(spec, &spec_json, options);
  const Json json = {{"global_step", state.step},
                     {"epoch", state.epoch},
                     {"data_position", state.data_position},
                     {"batches", state.batches},
                     {"world_size", state.world_size},
                     {"spec", Json::parse(spec_json)}};
  return json.dump(2) + "\n";
}

// Replaces every tensor of `snapshot` by a host copy, into `reuse`'s buffers where the i-th
// tensor's shape and dtype match. Device copies are queued without waiting, then waited for
// once.
void CopyToHost(CheckpointSnapshot& snapshot, CheckpointSnapshot* reuse) {
  std::vector<torch::Tensor> buffers;
  if (reuse != nullptr) {
    for (auto& file : reuse->files) {
      for (auto& [name, t] : file.tensors) buffers.push_back(std::move(t));
    }
  }
  size_t i = 0;
  bool any_device = false;
  torch::NoGradGuard no_grad;
  for (auto& file : snapshot.files) {
    for (auto& [name, t] : file.tensors) {
      torch::Tensor host;
      if (i < buffers.size() && buffers[i].sizes() == t.sizes() &&
          buffers[i].scalar_type() == t.scalar_type()) {
        host = buffers[i];
      } else {
        host = torch::empty(t.sizes(),  // host
                            torch::dtype(t.scalar_type()).pinned_memory(t.is_cuda()));
      }
      ++i;
      any_device = any_device || t.is_cuda();
      host.copy_(t, /*non_blocking=*/t.is_cuda());
      t = host;
    }
  }
  if (any_device) torch::cuda::synchronize();
}

}  // namespace

uint64_t CheckpointSnapshot::TensorBytes() const {
  uint64_t bytes = 0;
  for (const File& file : files) {
    for (const auto& [name, t] : file.tensors) bytes += t.numel() * t.element_size();
  }
  return bytes;
}

absl::StatusOr<std::string> ReadTokenizerJson(const moe::v1::JobSpec& spec) {
  std::ifstream tokenizer(spec.model().tokenizer(), std::ios::binary);
  std::ostringstream text;
  text << tokenizer.rdbuf();
  if (!tokenizer) {
    return absl::NotFoundError(absl::StrCat(spec.model().tokenizer(), ": cannot be read"));
  }
  return std::move(text).str();
}

CheckpointSnapshot TakeSnapshot(const TrainingState& state, const moe::v1::JobSpec& spec,
                                const std::string& tokenizer_json, MptForCausalLM& model,
                                const AdamW& optimizer, const FlatParameters& flat, int rank,
                                int world_size, SnapshotKind kind, CheckpointSnapshot* reuse) {
  CheckpointSnapshot snapshot;
  snapshot.step = state.step;
  snapshot.rank = rank;
  snapshot.world_size = world_size;
  snapshot.files.push_back(OptimizerShard(optimizer, flat, rank, world_size));
  if (rank == 0) {
    snapshot.files.push_back(TextFile(
        "config.json", common::MptConfigToHf(model->config(), model->moe_spec()).dump(2) + "\n"));
    CheckpointSnapshot::File weights;
    weights.name = "model.safetensors";
    for (auto& [name, t] : StoredTensors(model)) weights.tensors.emplace_back(name, t.detach());
    weights.metadata = {{"format", "pt"}};
    snapshot.files.push_back(std::move(weights));
    CheckpointSnapshot::File rng;
    rng.name = "rng_state.safetensors";
    rng.tensors = {{"cpu", at::detail::getDefaultCPUGenerator().get_state()}};
    snapshot.files.push_back(std::move(rng));
    snapshot.files.push_back(TextFile("training_state.json", TrainingStateJson(state, spec)));
    snapshot.files.push_back(TextFile("tokenizer.json", tokenizer_json));
  }
  if (kind == SnapshotKind::kHostCopy) CopyToHost(snapshot, reuse);
  return snapshot;
}

}  // namespace moe::worker
