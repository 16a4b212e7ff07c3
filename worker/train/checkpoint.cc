#include "worker/train/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <thread>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/checkpoint_manifest.h"
#include "common/disk_full.h"
#include "common/logging.h"
#include "common/model_config.h"
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
using common::FileDigest;
using common::HashingWriter;
using common::kManifestFile;
using common::OptimizerShardName;
using common::ReadJsonFile;
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

// Every rank's verdict on one phase of a save, OK only if all ranks succeeded (a collective);
// with `shard`, each rank's optimizer shard digest goes to every rank's `shards` too.
absl::Status AllSucceeded(Communicator& comm, const absl::Status& mine, int64_t step,
                          const FileDigest* shard = nullptr,
                          std::vector<FileDigest>* shards = nullptr) {
  // {ranks that failed, of which for lack of disk space, then per rank: bytes and SHA-256 as
  // four words}: every rank ends the same way. Each rank fills only its own words, so the sum
  // is everyone's.
  constexpr int kWords = 5;
  const int world = comm.world_size();
  torch::Tensor words = torch::zeros({2 + kWords * world}, torch::kInt64);  // host, then device
  int64_t* w = words.data_ptr<int64_t>();
  w[0] = mine.ok() ? 0 : 1;
  w[1] = common::IsDiskFull(mine) ? 1 : 0;
  if (shard != nullptr && mine.ok()) {
    const std::string raw = absl::HexStringToBytes(shard->sha256);
    int64_t* own = w + 2 + kWords * comm.rank();
    own[0] = static_cast<int64_t>(shard->bytes);
    std::memcpy(own + 1, raw.data(), std::min<size_t>(raw.size(), 4 * sizeof(int64_t)));
  }
  torch::Tensor reduced = words.to(comm.device());
  comm.AllReduceSum(reduced);
  if (!mine.ok()) return mine;
  const torch::Tensor host = reduced.to(torch::kCPU);  // read once
  const int64_t* sums = host.data_ptr<int64_t>();
  if (sums[0] == 0) {
    if (shards != nullptr) {
      shards->assign(world, FileDigest{});
      for (int r = 0; r < world; ++r) {
        const int64_t* theirs = sums + 2 + kWords * r;
        (*shards)[r].bytes = static_cast<uint64_t>(theirs[0]);
        (*shards)[r].sha256 = absl::BytesToHexString(
            absl::string_view(reinterpret_cast<const char*>(theirs + 1), 4 * sizeof(int64_t)));
      }
    }
    return absl::OkStatus();
  }
  const std::string message = absl::StrCat("checkpoint of step ", step, ": ", sums[0],
                                           " other rank(s) failed to write their part (see "
                                           "their logs); nothing was committed");
  if (sums[1] == 0) return absl::InternalError(message);
  return common::DiskFullError(absl::StrCat(message, ": out of disk space"));
}

// Writes one file of a snapshot into `dir`, fsynced; its size and SHA-256.
absl::StatusOr<FileDigest> WriteSnapshotFile(const fs::path& dir,
                                             const CheckpointSnapshot::File& file,
                                             const std::atomic<bool>* cancel) {
  if (!file.text) return WriteSafetensors(dir / file.name, file.tensors, file.metadata, cancel);
  ASSIGN_OR_RETURN(std::unique_ptr<HashingWriter> out,
                   HashingWriter::Create(dir / file.name, cancel));
  RETURN_IF_ERROR(out->Append(file.text->data(), file.text->size()));
  return out->Finish();
}

// Writes every file of `snapshot` into `dir`: those of tensors on threads of their own (each
// also hashing on a helper), so that a rank's model and optimizer shard go to the disk at once.
std::vector<absl::StatusOr<FileDigest>> WriteFiles(const fs::path& dir,
                                                   const CheckpointSnapshot& snapshot,
                                                   const std::atomic<bool>* cancel) {
  std::vector<absl::StatusOr<FileDigest>> digests(snapshot.files.size(),
                                                  absl::UnknownError("not written"));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < snapshot.files.size(); ++i) {
    const CheckpointSnapshot::File& file = snapshot.files[i];
    auto write = [&, i] { digests[i] = WriteSnapshotFile(dir, file, cancel); };
    if (file.text) {
      write();
    } else {
      threads.emplace_back(write);
    }
  }
  for (std::thread& thread : threads) thread.join();
  return digests;
}

// Rank 0, once every rank's files are durable: the manifest of `files` (which must be all
// that `dir` holds), fsynced, and the directory fsynced.
absl::Status WriteManifest(const fs::path& dir, int64_t step, int optimizer_shards,
                           const std::map<std::string, FileDigest>& files) {
  Json listed = Json::object();
  for (const auto& [name, digest] : files) {
    listed[name] = {{"bytes", digest.bytes}, {"sha256", digest.sha256}};
  }
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (files.count(name) == 0) {
      return absl::InternalError(
          absl::StrCat(it->path().string(), ": not written by this save; nothing was committed"));
    }
  }
  if (ec) return absl::InternalError(absl::StrCat(dir.string(), ": ", ec.message()));
  const std::string text =
      Json{{"step", step}, {"optimizer_shards", optimizer_shards}, {"files", listed}}.dump(2) +
      "\n";
  ASSIGN_OR_RETURN(std::unique_ptr<HashingWriter> out, HashingWriter::Create(dir / kManifestFile));
  RETURN_IF_ERROR(out->Append(text.data(), text.size()));
  RETURN_IF_ERROR(out->Finish().status());
  return Fsync(dir);
}

// Rank 0, once every file is durable: manifest, then the rename into place (moving an older
// copy of the same step aside first).
absl::Status Commit(const fs::path& tmp, const fs::path& final_dir, int64_t step, int shards,
                    const std::map<std::string, FileDigest>& files) {
  RETURN_IF_ERROR(WriteManifest(tmp, step, shards, files));
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
                            const CheckpointSnapshot& snapshot, Communicator& comm,
                            const std::atomic<bool>* cancel) {
  const bool leader = comm.rank() == 0;
  const int64_t step = snapshot.step;
  absl::Status status;
  if (leader) {
    std::error_code ec;
    fs::remove_all(tmp, ec);  // a torn attempt from an earlier crash
    fs::create_directories(tmp, ec);
    if (ec) status = common::FileError(tmp, "create", ec.value());
  }
  RETURN_IF_ERROR(AllSucceeded(comm, status, step));
  // This rank's files, in parallel; its optimizer shard's digest is shared with rank 0 below.
  std::map<std::string, FileDigest> written;
  const std::string shard = OptimizerShardName(comm.rank(), comm.world_size());
  for (size_t i = 0; const absl::StatusOr<FileDigest>& digest : WriteFiles(tmp, snapshot, cancel)) {
    const std::string& name = snapshot.files[i++].name;
    if (!digest.ok()) {
      status = digest.status();
      break;
    }
    written[name] = *digest;
  }
  if (status.ok() && written.count(shard) == 0) {
    status =
        absl::InternalError(absl::StrCat("the snapshot of rank ", comm.rank(), " has no ", shard));
  }
  std::vector<FileDigest> shards;
  RETURN_IF_ERROR(
      AllSucceeded(comm, status, step, status.ok() ? &written[shard] : nullptr, &shards));
  if (leader) {
    for (int r = 0; r < comm.world_size(); ++r) {
      written[OptimizerShardName(r, comm.world_size())] = shards[r];
    }
    status = Commit(tmp, final_dir, step, comm.world_size(), written);
  }
  return AllSucceeded(comm, status, step);
}

}  // namespace

absl::StatusOr<fs::path> WriteCheckpoint(const fs::path& output_dir,
                                         const CheckpointSnapshot& snapshot, Communicator& comm,
                                         const std::atomic<bool>* cancel) {
  const fs::path final_dir = output_dir / CheckpointName(snapshot.step);
  const fs::path tmp = fs::path(final_dir.string() + ".tmp");
  const absl::Status status = WriteAndCommit(tmp, final_dir, snapshot, comm, cancel);
  if (!status.ok()) {
    std::error_code ec;
    if (comm.rank() == 0) fs::remove_all(tmp, ec);
    return status;
  }
  return final_dir;
}

absl::StatusOr<fs::path> SaveCheckpoint(const fs::path& output_dir, const TrainingState& state,
                                        const moe::v1::JobSpec& spec, MptForCausalLM& model,
                                        const AdamW& optimizer, const FlatParameters& flat,
                                        Communicator& comm) {
  std::string tokenizer;
  if (comm.rank() == 0) {
    absl::StatusOr<std::string> read = ReadTokenizerJson(spec);
    // Every rank learns of rank 0's failure through the save's first agreement.
    if (!read.ok()) return AllSucceeded(comm, read.status(), state.step);
    tokenizer = *std::move(read);
  }
  return WriteCheckpoint(output_dir,
                         TakeSnapshot(state, spec, tokenizer, model, optimizer, flat, comm.rank(),
                                      comm.world_size(), SnapshotKind::kViews),
                         comm);
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
    if (VerifyCheckpoint(dir, common::VerifyDepth::kSizes).ok()) ++good;
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
  RETURN_IF_ERROR(common::ReadHfConfig(dir, &config, &moe));
  google::protobuf::util::MessageDifferencer differ;
  std::string difference;
  differ.ReportDifferencesToString(&difference);
  const bool same_experts =
      common::SameMoeLayout(static_cast<int>(config.n_layers()), moe, model->moe_spec());
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
