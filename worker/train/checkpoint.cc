#include "worker/train/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/checkpoint_manifest.h"
#include "common/disk_full.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "nlohmann/json.hpp"
#include "worker/model/hf_checkpoint.h"
#include "worker/model/safetensors.h"

namespace moe::worker {
namespace {

namespace fs = std::filesystem;
using common::CheckpointDirs;
using common::kManifestFile;
using common::OptimizerShardName;
using common::ReadJsonFile;
using common::Sha256File;
using Json = nlohmann::json;

absl::Status Errno(const fs::path& path, const char* what) {
  return common::FileError(path, what, errno);
}

// Flushes a file's or directory's data and metadata to the disk.
absl::Status Fsync(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno(path, "open for fsync");
  const int rc = ::fsync(fd);
  ::close(fd);
  return rc == 0 ? absl::OkStatus() : Errno(path, "fsync");
}

absl::Status WriteJson(const fs::path& path, const Json& json) {
  errno = 0;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << json.dump(2) << '\n';
  out.close();
  return out ? absl::OkStatus() : common::FileError(path, "write failed", errno != 0 ? errno : EIO);
}

// Writes the optimizer's state over its range, each parameter's part under its name.
absl::Status WriteOptimizerShard(const fs::path& path, const AdamW& opt,
                                 const FlatParameters& flat) {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  Json ranges = Json::object();
  for (const ParameterRange& r : flat.ranges()) {
    const int64_t lo = std::max(r.offset, opt.begin()),
                  hi = std::min(r.offset + r.numel, opt.end());
    if (lo >= hi) continue;  // another rank's
    ranges[r.name] = {lo - r.offset, hi - r.offset};
    for (auto [prefix, source] : {std::pair{"master/", &opt.master()},
                                  {"exp_avg/", &opt.exp_avg()},
                                  {"exp_avg_sq/", &opt.exp_avg_sq()}}) {
      tensors.emplace_back(prefix + r.name, source->narrow(0, lo - opt.begin(), hi - lo));
    }
  }
  RETURN_IF_ERROR(WriteSafetensors(
      path, tensors, {{"step", std::to_string(opt.step())}, {"ranges", ranges.dump()}}));
  return Fsync(path);
}

// Copies, for every parameter part in the shard at `path`, its overlap with the optimizer's
// range; adds the number of elements copied to *covered and checks the shards agree on the step.
absl::Status ReadOptimizerShard(const fs::path& path, AdamW& opt, const FlatParameters& flat,
                                int64_t* covered) {
  ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(path));
  const auto& metadata = file->metadata();
  int64_t step = 0;
  const auto step_it = metadata.find("step"), ranges_it = metadata.find("ranges");
  if (step_it == metadata.end() || !absl::SimpleAtoi(step_it->second, &step) ||
      ranges_it == metadata.end()) {
    return absl::DataLossError(absl::StrCat(path.string(), ": no step or ranges in its metadata"));
  }
  if (*covered > 0 && step != opt.step()) {
    return absl::DataLossError(
        absl::StrCat(path.string(), ": optimizer step ", step, ", other shards say ", opt.step()));
  }
  opt.set_step(step);
  const Json ranges = Json::parse(ranges_it->second, nullptr, /*allow_exceptions=*/false);
  if (!ranges.is_object()) {
    return absl::DataLossError(absl::StrCat(path.string(), ": malformed ranges metadata"));
  }
  torch::NoGradGuard no_grad;
  for (const ParameterRange& r : flat.ranges()) {
    const auto it = ranges.find(r.name);
    if (it == ranges.end()) continue;
    const Json& range = *it;
    if (!range.is_array() || range.size() != 2 || !range[0].is_number_integer() ||
        !range[1].is_number_integer() || range[0].get<int64_t>() < 0 ||
        range[1].get<int64_t>() > r.numel || range[0].get<int64_t>() >= range[1].get<int64_t>()) {
      return absl::DataLossError(absl::StrCat(path.string(), ": range of ", r.name, " is ",
                                              range.dump(), ", the parameter has ", r.numel,
                                              " elements"));
    }
    const int64_t first = r.offset + range[0].get<int64_t>(),
                  last = r.offset + range[1].get<int64_t>();  // flat elements in this shard
    const int64_t lo = std::max(first, opt.begin()), hi = std::min(last, opt.end());
    if (lo >= hi) continue;  // another rank's now
    for (auto [prefix, target] : {std::pair{"master/", &opt.master()},
                                  {"exp_avg/", &opt.exp_avg()},
                                  {"exp_avg_sq/", &opt.exp_avg_sq()}}) {
      ASSIGN_OR_RETURN(torch::Tensor t, file->Load(prefix + r.name));
      if (t.numel() != last - first) {
        return absl::DataLossError(absl::StrCat(path.string(), ": ", prefix, r.name, " has ",
                                                t.numel(), " elements, its range ", last - first));
      }
      target->narrow(0, lo - opt.begin(), hi - lo)
          .copy_(t.reshape(-1).narrow(0, lo - first, hi - lo));
    }
    *covered += hi - lo;
  }
  return absl::OkStatus();
}

// Writes the manifest of every file in `dir`, after fsyncing them.
absl::Status WriteManifest(const fs::path& dir, int64_t step, int optimizer_shards) {
  Json files = Json::object();
  std::vector<fs::path> paths;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    paths.push_back(it->path());
  }
  if (ec) return absl::InternalError(absl::StrCat(dir.string(), ": ", ec.message()));
  std::sort(paths.begin(), paths.end());
  for (const fs::path& path : paths) {
    RETURN_IF_ERROR(Fsync(path));
    ASSIGN_OR_RETURN(std::string sha, Sha256File(path));
    files[path.filename().string()] = {{"bytes", fs::file_size(path, ec)}, {"sha256", sha}};
  }
  RETURN_IF_ERROR(
      WriteJson(dir / kManifestFile,
                {{"step", step}, {"optimizer_shards", optimizer_shards}, {"files", files}}));
  RETURN_IF_ERROR(Fsync(dir / kManifestFile));
  return Fsync(dir);
}

}  // namespace

namespace {

// Every rank's verdict on one phase of a save: OK only if all ranks succeeded (a collective).
absl::Status AllSucceeded(Communicator& comm, const absl::Status& mine, int64_t step) {
  // {ranks that failed, of which for lack of disk space}: every rank ends the same way.
  torch::Tensor failed =
      torch::tensor({mine.ok() ? 0.0F : 1.0F, common::IsDiskFull(mine) ? 1.0F : 0.0F},
                    torch::dtype(torch::kFloat32).device(comm.device()));
  comm.AllReduceSum(failed);
  if (!mine.ok()) return mine;
  const torch::Tensor counts = failed.to(torch::kCPU);  // host: read once
  const int others = static_cast<int>(counts[0].item<float>());
  if (others == 0) return absl::OkStatus();
  const std::string message = absl::StrCat("checkpoint of step ", step, ": ", others,
                                           " other rank(s) failed to write their part (see "
                                           "their logs); nothing was committed");
  if (counts[1].item<float>() == 0) return absl::InternalError(message);
  return common::DiskFullError(absl::StrCat(message, ": out of disk space"));
}

// Rank 0's files: the model, RNG, training state and tokenizer.
absl::Status WriteLeaderFiles(const fs::path& tmp, const TrainingState& state,
                              const moe::v1::JobSpec& spec, MptForCausalLM& model) {
  RETURN_IF_ERROR(SaveHfModel(model, tmp));
  RETURN_IF_ERROR(WriteSafetensors(tmp / "rng_state.safetensors",
                                   {{"cpu", at::detail::getDefaultCPUGenerator().get_state()}}));
  std::string spec_json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  // Printing a valid message to JSON cannot fail.
  (void)google::protobuf::util::MessageToJsonString(spec, &spec_json, options);
  RETURN_IF_ERROR(WriteJson(tmp / "training_state.json", {{"global_step", state.step},
                                                          {"epoch", state.epoch},
                                                          {"data_position", state.data_position},
                                                          {"batches", state.batches},
                                                          {"world_size", state.world_size},
                                                          {"spec", Json::parse(spec_json)}}));
  std::error_code ec;
  fs::copy_file(spec.model().tokenizer(), tmp / "tokenizer.json", ec);
  if (ec) return absl::InternalError(absl::StrCat(spec.model().tokenizer(), ": ", ec.message()));
  return absl::OkStatus();
}

// Rank 0, once every file is durable: manifest, then the rename into place (moving an older
// copy of the same step aside first).
absl::Status Commit(const fs::path& tmp, const fs::path& final_dir, int64_t step, int shards) {
  RETURN_IF_ERROR(WriteManifest(tmp, step, shards));
  const fs::path old = fs::path(final_dir.string() + ".old");
  std::error_code ec;
  if (fs::exists(final_dir)) {
    fs::remove_all(old, ec);
    fs::rename(final_dir, old, ec);
    if (ec) return absl::InternalError(absl::StrCat(final_dir.string(), ": ", ec.message()));
  }
  fs::rename(tmp, final_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat(tmp.string(), ": rename: ", ec.message()));
  RETURN_IF_ERROR(Fsync(final_dir.parent_path()));
  fs::remove_all(old, ec);
  return absl::OkStatus();
}

absl::Status WriteAndCommit(const fs::path& tmp, const fs::path& final_dir,
                            const TrainingState& state, const moe::v1::JobSpec& spec,
                            MptForCausalLM& model, const AdamW& optimizer,
                            const FlatParameters& flat, Communicator& comm) {
  const bool leader = comm.rank() == 0;
  absl::Status status;
  if (leader) {
    std::error_code ec;
    fs::remove_all(tmp, ec);  // a torn attempt from an earlier crash
    fs::create_directories(tmp, ec);
    if (ec) status = common::FileError(tmp, "create", ec.value());
  }
  RETURN_IF_ERROR(AllSucceeded(comm, status, state.step));
  status = WriteOptimizerShard(tmp / OptimizerShardName(comm.rank(), comm.world_size()), optimizer,
                               flat);
  if (leader && status.ok()) status = WriteLeaderFiles(tmp, state, spec, model);
  RETURN_IF_ERROR(AllSucceeded(comm, status, state.step));  // every file durable
  if (leader) status = Commit(tmp, final_dir, state.step, comm.world_size());
  return AllSucceeded(comm, status, state.step);
}

}  // namespace

absl::StatusOr<fs::path> SaveCheckpoint(const fs::path& output_dir, const TrainingState& state,
                                        const moe::v1::JobSpec& spec, MptForCausalLM& model,
                                        const AdamW& optimizer, const FlatParameters& flat,
                                        Communicator& comm) {
  const fs::path final_dir = output_dir / CheckpointName(state.step);
  const fs::path tmp = fs::path(final_dir.string() + ".tmp");
  const absl::Status status =
      WriteAndCommit(tmp, final_dir, state, spec, model, optimizer, flat, comm);
  if (!status.ok()) {
    std::error_code ec;
    if (comm.rank() == 0) fs::remove_all(tmp, ec);
    return status;
  }
  return final_dir;
}

std::vector<fs::path> ApplyRetention(const fs::path& output_dir, uint32_t keep_last,
                                     int64_t up_to_step) {
  std::vector<fs::path> deleted;
  if (keep_last == 0) return deleted;
  uint32_t good = 0;
  for (const auto& [step, dir] : CheckpointDirs(output_dir)) {
    if (step > up_to_step) continue;  // another run's: not ours to judge
    if (good >= keep_last) {
      std::error_code ec;
      fs::remove_all(dir, ec);
      if (!ec) deleted.push_back(dir);
      continue;
    }
    if (VerifyCheckpoint(dir).ok()) ++good;
  }
  return deleted;
}

absl::StatusOr<TrainingState> ReadTrainingState(const fs::path& dir) {
  ASSIGN_OR_RETURN(Json json, ReadJsonFile(dir / "training_state.json"));
  TrainingState s;
  try {
    s.step = json.at("global_step").get<int64_t>();
    s.epoch = json.at("epoch").get<int64_t>();
    s.data_position = json.at("data_position").get<uint64_t>();
    s.batches = json.at("batches").get<int64_t>();
    s.world_size = json.at("world_size").get<int32_t>();
  } catch (const Json::exception& e) {
    return absl::DataLossError(absl::StrCat(dir.string(), "/training_state.json: ", e.what()));
  }
  return s;
}

namespace {

// The optimizer's range of the state, from whichever shards hold it.
absl::Status RestoreOptimizer(const fs::path& dir, AdamW& optimizer, const FlatParameters& flat) {
  ASSIGN_OR_RETURN(Json manifest, ReadJsonFile(dir / kManifestFile));
  const int shards = manifest.value("optimizer_shards", 0);
  int64_t covered = 0;
  for (int r = 0; r < shards; ++r) {
    RETURN_IF_ERROR(
        ReadOptimizerShard(dir / OptimizerShardName(r, shards), optimizer, flat, &covered));
  }
  // Only parameters' elements have state: alignment gaps and the padding at the end have none.
  int64_t wanted = 0;
  for (const ParameterRange& r : flat.ranges()) {
    wanted += std::max<int64_t>(
        0, std::min(optimizer.end(), r.offset + r.numel) - std::max(optimizer.begin(), r.offset));
  }
  if (covered != wanted) {
    return absl::DataLossError(absl::StrCat(dir.string(), ": the optimizer shards hold ", covered,
                                            " of the ", wanted, " elements of this rank's range"));
  }
  optimizer.PublishMaster();
  return absl::OkStatus();
}

}  // namespace

absl::Status RestoreCheckpoint(const fs::path& dir, MptForCausalLM& model, AdamW& optimizer,
                               const FlatParameters& flat) {
  moe::v1::MptConfig config;
  moe::v1::MoeSpec moe;
  RETURN_IF_ERROR(ReadHfConfig(dir, &config, &moe));
  google::protobuf::util::MessageDifferencer differ;
  std::string difference;
  differ.ReportDifferencesToString(&difference);
  const bool same_experts = moe.experts_size() == model->moe_spec().experts_size() &&
                            moe.layers_case() == model->moe_spec().layers_case() &&
                            moe.every_n_layers() == model->moe_spec().every_n_layers();
  if (!differ.Compare(config, model->config()) || !same_experts) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint ", dir.string(), " was made for a different model than this job's (",
        same_experts ? ""
                     : absl::StrCat(moe.experts_size(), " experts vs ",
                                    model->moe_spec().experts_size(), "; "),
        difference.empty() ? "same architecture" : difference,
        "); resume it with the job that made it"));
  }
  ASSIGN_OR_RETURN(TensorMap weights, ReadHfWeights(dir));
  RETURN_IF_ERROR(LoadWeights(weights, /*upcycle=*/false, 0, model));
  RETURN_IF_ERROR(RestoreOptimizer(dir, optimizer, flat));
  ASSIGN_OR_RETURN(auto rng, SafetensorsFile::Open(dir / "rng_state.safetensors"));
  ASSIGN_OR_RETURN(torch::Tensor state, rng->Load("cpu"));
  try {
    at::Generator generator = at::detail::getDefaultCPUGenerator();
    generator.set_state(state);
  } catch (const c10::Error& e) {
    return absl::DataLossError(
        absl::StrCat(dir.string(), "/rng_state.safetensors: ", e.what_without_backtrace()));
  }
  return absl::OkStatus();
}

}  // namespace moe::worker
