#include "worker/train/trainer.h"

#include <chrono>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/model/hf_checkpoint.h"
#include "worker/model/model_config.h"
#include "worker/train/batch_tensors.h"
#include "worker/train/evaluator.h"
#include "worker/train/grad_clip.h"

namespace moe::worker {
namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

absl::StatusOr<int64_t> GradAccumulationFor(const moe::v1::JobSpec& spec, int world_size) {
  const int64_t micro = spec.training().micro_batch_size();
  const int64_t global =
      micro * spec.training().grad_accumulation() * spec.resources().world_size();
  if (global % (micro * world_size) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the global batch of ", global, " rows (training.micro_batch_size ", micro,
        " x training.grad_accumulation ", spec.training().grad_accumulation(),
        " x resources.world_size ", spec.resources().world_size(), ") cannot be split over ",
        world_size, " ranks of ", micro, " rows: use a world size that divides ", global / micro));
  }
  return global / (micro * world_size);
}

double ModelFlopsPerToken(const moe::v1::MptConfig& config, const moe::v1::MoeSpec& moe,
                          int64_t seq_len) {
  const ParameterCount count = CountParameters(config, moe);
  return 6.0 * static_cast<double>(count.active_per_token) +
         12.0 * config.n_layers() * config.d_model() * static_cast<double>(seq_len);
}

absl::StatusOr<double> DevicePeakFlops() {
  const char* value = std::getenv("MOE_PEAK_FLOPS");
  if (value == nullptr || *value == '\0') return 0.0;
  double peak = 0;
  if (!absl::SimpleAtod(value, &peak) || !(peak > 0)) {
    return absl::InvalidArgumentError(absl::StrCat("environment variable MOE_PEAK_FLOPS='", value,
                                                   "': expected FLOP/s > 0, e.g. 989e12"));
  }
  return peak;
}

void Trainer::StepTotals::Add(const StepTotals& other) {
  ce_sum += other.ce_sum;
  aux += other.aux;
  loss_tokens += other.loss_tokens;
  tokens += other.tokens;
  micro_batches += other.micro_batches;
  samples += other.samples;
  steps += other.steps;
  layers.resize(std::max(layers.size(), other.layers.size()));
  for (size_t l = 0; l < other.layers.size(); ++l) {
    LayerTotals& mine = layers[l];
    const LayerTotals& theirs = other.layers[l];
    mine.tokens.resize(std::max(mine.tokens.size(), theirs.tokens.size()), 0);
    for (size_t e = 0; e < theirs.tokens.size(); ++e) mine.tokens[e] += theirs.tokens[e];
    mine.dropped += theirs.dropped;
    mine.load_balance_loss += theirs.load_balance_loss;
    mine.z_loss += theirs.z_loss;
    mine.router_entropy += theirs.router_entropy;
  }
}

torch::Tensor SummedCrossEntropy(const torch::Tensor& logits_BTV, const torch::Tensor& labels_BT) {
  namespace F = torch::nn::functional;
  return F::cross_entropy(
      logits_BTV.reshape({-1, logits_BTV.size(-1)}).to(torch::kFloat32), labels_BT.reshape({-1}),
      F::CrossEntropyFuncOptions().ignore_index(kIgnoreLabel).reduction(torch::kSum));
}

Trainer::Trainer(const moe::v1::JobSpec& spec, const TrainOptions& options, Communicator& comm,
                 ProgressSink& progress)
    : spec_(spec), options_(options), comm_(comm), progress_(progress) {}

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::Create(const moe::v1::JobSpec& spec,
                                                         const TrainOptions& options,
                                                         Communicator& comm,
                                                         ProgressSink& progress) {
  auto t = std::unique_ptr<Trainer>(new Trainer(spec, options, comm, progress));
  ASSIGN_OR_RETURN(t->tokenizer_, Tokenizer::FromFile(spec.model().tokenizer()));
  const std::vector<std::string> experts(spec.model().moe().experts().begin(),
                                         spec.model().moe().experts().end());
  ASSIGN_OR_RETURN(t->dataset_, Dataset::Load(spec.data(), *t->tokenizer_, experts));
  ASSIGN_OR_RETURN(t->model_,
                   BuildModel(spec.model(), t->tokenizer_->size(), spec.training().seed()));
  if (spec.model().precision() == moe::v1::PRECISION_BF16) t->model_->SetDtype(torch::kBFloat16);
  t->model_->train();
  ASSIGN_OR_RETURN(t->accumulation_, GradAccumulationFor(spec, comm.world_size()));
  if (comm.world_size() != static_cast<int>(spec.resources().world_size())) {
    progress.OnMessage(absl::StrCat(comm.world_size(), " ranks where the spec plans ",
                                    spec.resources().world_size(), ": gradient accumulation ",
                                    t->accumulation_, " (not ", spec.training().grad_accumulation(),
                                    ") keeps the global batch"));
  }
  for (uint32_t layer = 0; layer < spec.model().config().n_layers(); ++layer) {
    if (IsMoeLayer(static_cast<int>(layer), spec.model().moe())) t->moe_layers_.push_back(layer);
  }
  t->model_flops_per_token_ =
      ModelFlopsPerToken(t->model_->config(), t->model_->moe_spec(), spec.data().max_seq_len());
  ASSIGN_OR_RETURN(const double peak, DevicePeakFlops());
  t->peak_flops_ = peak * comm.world_size();
  t->flat_ = std::make_unique<FlatParameters>(*t->model_, 2 * comm.world_size());
  // ZeRO-2: rank r owns partition r of the padded flat buffer (optimizer state and gradient).
  const int64_t padded = t->flat_->params().numel();
  t->zero_ = spec.zero().stage() == 2 && comm.world_size() > 1;
  const int64_t part = t->zero_ ? padded / comm.world_size() : padded;
  const int64_t begin = t->zero_ ? comm.rank() * part : 0;
  t->optimizer_ = std::make_unique<AdamW>(spec.training(), *t->flat_, begin, begin + part);
  const auto bucket = static_cast<int64_t>(spec.zero().bucket_mb() * (1 << 20) / 4);
  if (t->zero_) {
    t->buckets_ =
        std::make_unique<GradientBuckets>(*t->flat_, comm, begin, begin + part,
                                          std::max<int64_t>(bucket, 1), spec.zero().overlap_comm());
  }
  progress.OnMessage(absl::StrCat(
      "rank ", comm.rank(), " of ", comm.world_size(),
      (t->zero_ ? absl::StrCat(" (ZeRO-2, ", t->buckets_->num_buckets(), " gradient buckets)")
                : ""),
      ": parameters ", padded * t->flat_->params().element_size() / 1e6, " MB, fp32 gradients ",
      (t->zero_ ? part + std::min(bucket, padded) : padded) * 4 / 1e6,
      (t->zero_ ? " MB (partition + bucket)" : " MB"), ", optimizer state ", 3 * part * 4 / 1e6,
      " MB"));

  LoaderOptions loader;
  loader.micro_batch_size = static_cast<int32_t>(spec.training().micro_batch_size());
  loader.max_seq_len = static_cast<int32_t>(spec.data().max_seq_len());
  loader.packing = spec.data().packing();
  loader.seed = spec.training().seed();
  loader.world_size = comm.world_size();
  loader.rank = comm.rank();
  t->loader_ = std::make_unique<DataLoader>(*t->dataset_, loader);
  // Each epoch's order packs into a slightly different number of rows: plan them all.
  const int64_t accumulation = t->accumulation_;
  int64_t total = 0;
  for (uint32_t epoch = 0; epoch < spec.training().epochs(); ++epoch) {
    const int64_t batches = t->loader_->StepsInEpoch(epoch);
    t->total_batches_ += batches;
    total += (batches + accumulation - 1) / accumulation;
  }
  if (spec.training().max_steps() > 0) {
    total = std::min<int64_t>(total, spec.training().max_steps());
  }
  t->schedule_ = std::make_unique<LrSchedule>(spec.training(), total);
  t->state_.world_size = comm.world_size();
  if (spec.training().eval_every() > 0) {  // read once; an empty split fails now, not mid-run
    ASSIGN_OR_RETURN(EvalSet set, LoadEvalSet(spec.data(), *t->tokenizer_, DataSplit::kEval));
    t->eval_set_ = std::make_unique<EvalSet>(std::move(set));
  }
  if (!options.resume_from.empty()) RETURN_IF_ERROR(t->Restore(options.resume_from));
  progress.OnMessage(absl::StrCat(t->dataset_->size(), " samples, ", t->total_batches_,
                                  " micro-batches in ", spec.training().epochs(), " epochs, ",
                                  total, " optimizer steps; ", t->flat_->numel(), " parameters"));
  return t;
}

absl::Status Trainer::Restore(const std::string& resume_from) {
  std::filesystem::path dir = resume_from;
  if (resume_from == "latest") {
    ASSIGN_OR_RETURN(dir, LatestCheckpoint(spec_.checkpoint().output_dir()));
  } else {
    if (!std::filesystem::is_directory(dir)) {
      return absl::NotFoundError(
          absl::StrCat("cannot resume from ", dir.string(), ": no such checkpoint directory"));
    }
    // A checkpoint that exists but does not verify was damaged after its commit: DataLoss
    // (exit code kExitBadCheckpoint), so moed sets it aside and resumes from the one before.
    const absl::Status verified = VerifyCheckpoint(dir);
    if (!verified.ok()) {
      return absl::DataLossError(
          absl::StrCat("cannot resume from ", dir.string(), ": ", verified.message()));
    }
  }
  RETURN_IF_ERROR(RestoreCheckpoint(dir, model_, *optimizer_, *flat_));
  ASSIGN_OR_RETURN(state_, ReadTrainingState(dir));
  if (state_.data_position > dataset_->size()) {
    return absl::FailedPreconditionError(
        absl::StrCat(dir.string(), " stopped at sample ", state_.data_position, " of epoch ",
                     state_.epoch, " but the data set now has ", dataset_->size(),
                     " samples: resume with the data it trained on"));
  }
  state_.world_size = comm_.world_size();
  loader_->Seek(state_.epoch, state_.data_position);  // O(1): no batch is read to be skipped
  progress_.OnMessage(absl::StrCat("resumed from ", dir.string(), " at step ", state_.step,
                                   ", epoch ", state_.epoch, ", sample ", state_.data_position));
  return absl::OkStatus();
}

std::vector<Batch> Trainer::NextBatches() {
  std::vector<Batch> batches;
  for (Batch b; static_cast<int64_t>(batches.size()) < accumulation_ && loader_->Next(&b);) {
    batches.push_back(std::move(b));
  }
  return batches;
}

Trainer::StepTotals Trainer::ForwardBackward(const std::vector<Batch>& batches) {
  StepTotals totals;
  for (const Batch& b : batches) totals.loss_tokens += b.loss_tokens;
  torch::Tensor all_tokens =
      torch::tensor({static_cast<double>(totals.loss_tokens)}, torch::kFloat64);
  comm_.AllReduceSum(all_tokens);
  const double denominator = std::max(all_tokens.item<double>(), 1.0);
  const double aux_scale = 1.0 / (static_cast<double>(batches.size()) * comm_.world_size());
  for (const Batch& b : batches) {
    const ModelOutput out = model_->forward(ToModelInputs(b));
    const torch::Tensor ce = SummedCrossEntropy(out.logits_BTV, LabelsOf(b));
    (ce / denominator + out.aux_loss * aux_scale).backward();
    if (zero_) {
      buckets_->FinishMicroBatch();  // this rank's partition of the rank-summed gradient
    } else {
      flat_->AccumulateGradients();
    }
    totals.ce_sum += ce.item<double>();
    totals.aux += out.aux_loss.item<double>();
    totals.tokens += b.tokens;
    totals.samples += static_cast<int64_t>(b.samples.size());
    ++totals.micro_batches;
    totals.layers.resize(out.moe_stats.size());
    for (size_t l = 0; l < out.moe_stats.size(); ++l) {
      const MoeStats& stats = out.moe_stats[l];
      LayerTotals& layer = totals.layers[l];
      const int64_t experts = stats.tokens_per_expert.size(0);
      layer.tokens.resize(experts, 0);
      const torch::Tensor counts =
          stats.tokens_per_expert.to(torch::kCPU, torch::kInt64).contiguous();
      const int64_t* n = counts.data_ptr<int64_t>();
      for (int64_t e = 0; e < experts; ++e) layer.tokens[e] += n[e];
      layer.dropped += stats.dropped;
      layer.load_balance_loss += stats.load_balance_loss;
      layer.z_loss += stats.z_loss;
      layer.router_entropy += stats.router_entropy;
    }
  }
  // Plain data parallel: sum every rank's part of the global-mean gradient.
  if (comm_.world_size() > 1 && !zero_) comm_.AllReduceSum(flat_->grads());
  return totals;
}

absl::Status Trainer::Run() {
  try {
    return Loop();
  } catch (const c10::Error& e) {  // LibTorch: out of memory, a shape error, ...
    const std::string what = e.what_without_backtrace();
    const std::string message = absl::StrCat("training step ", state_.step + 1, ": ", what);
    // CUDA's allocator says "CUDA out of memory"; CPU's "DefaultCPUAllocator: not enough memory".
    if (absl::StrContains(what, "out of memory") || absl::StrContains(what, "not enough memory")) {
      return absl::ResourceExhaustedError(message);
    }
    return absl::InternalError(message);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(
        absl::StrCat("training step ", state_.step + 1, ": out of memory"));
  } catch (const std::exception& e) {  // e.g. Gloo: a peer's connection closed
    return absl::InternalError(absl::StrCat("training step ", state_.step + 1, ": ", e.what()));
  }
}

absl::Status Trainer::Loop() {
  report_started_ = Now();
  const int64_t stop_at = options_.stop_after_steps;
  if (stop_at > 0 && state_.step >= stop_at) {
    // Resumed at or past the stop: make sure that step's checkpoint is in this job's output
    // directory (rank 0 decides, so every rank takes the same path through the collective).
    torch::Tensor missing = torch::tensor(
        {std::filesystem::exists(std::filesystem::path(spec_.checkpoint().output_dir()) /
                                 CheckpointName(state_.step))
             ? 0.0f
             : 1.0f});
    comm_.Broadcast(missing, 0);
    return missing.item<float>() > 0 ? Checkpoint() : absl::OkStatus();
  }
  while (state_.step < schedule_->total_steps() && state_.epoch < spec_.training().epochs()) {
    const std::vector<Batch> batches = NextBatches();
    const StepTotals totals = ForwardBackward(batches);
    // Under ZeRO each rank holds one partition of the gradient, so the norm sums over ranks;
    // in plain data parallel the gradient is replicated and its norm is local.
    LocalCommunicator replicated;
    torch::Tensor& grad = zero_ ? buckets_->partition_grad() : flat_->grads();
    const double norm =
        ClipGradNorm(grad, spec_.training().max_grad_norm(), zero_ ? comm_ : replicated);
    const double lr = schedule_->At(state_.step + 1);
    optimizer_->Step(grad, lr);  // updates this rank's range of the parameters
    grad.zero_();
    if (zero_) GatherParameters();

    ++state_.step;
    state_.batches += totals.micro_batches;
    since_report_.steps += 1;
    state_.data_position = loader_->position();
    since_report_.Add(totals);

    const bool epoch_ended = loader_->position() >= dataset_->size();
    if (epoch_ended) {
      ++state_.epoch;
      loader_->Seek(state_.epoch, 0);
      state_.data_position = 0;
    }
    const bool last = state_.step == schedule_->total_steps();
    const bool requested = StopRequested();
    const bool stop = (stop_at > 0 && state_.step >= stop_at) || requested;
    if (state_.step % spec_.logging().logging_steps() == 0 || last || stop || epoch_ended) {
      Report(lr, norm, epoch_ended);
    }
    const uint32_t save_steps = spec_.checkpoint().save_steps();
    if (last || stop) {
      RETURN_IF_ERROR(Checkpoint());  // the run's end depends on it
    } else if ((save_steps > 0 && state_.step % save_steps == 0) ||
               (epoch_ended && spec_.checkpoint().save_at_epoch_end())) {
      // A periodic save that fails (disk full, permissions) fails loudly, on every rank alike,
      // and training goes on: the previous checkpoint stays the newest committed one.
      if (const absl::Status saved = Checkpoint(); !saved.ok()) {
        progress_.OnCheckpointFailed(state_.step, std::string(saved.message()));
      }
    }
    if (spec_.training().eval_every() > 0 &&
        (state_.step % spec_.training().eval_every() == 0 || last)) {
      RETURN_IF_ERROR(RunEvaluation());
    }
    if (requested && !last) {
      return absl::AbortedError(absl::StrCat("stopped on request at step ", state_.step, " of ",
                                             schedule_->total_steps(), "; ",
                                             CheckpointName(state_.step), " is committed"));
    }
    if (stop) return absl::OkStatus();
  }
  return absl::OkStatus();
}

bool Trainer::StopRequested() {
  if (options_.stop_requested == nullptr) return false;
  const bool mine = options_.stop_requested->load();
  if (comm_.world_size() == 1) return mine;
  torch::Tensor any = torch::tensor({mine ? 1.0f : 0.0f});
  comm_.AllReduceSum(any);  // every rank stops at the same step
  return any.item<float>() > 0;
}

void Trainer::Report(double lr, double grad_norm, bool epoch_ended) {
  // One all_reduce of every counter, so the report is of the whole global batch.
  StepTotals& totals = since_report_;
  const size_t experts = model_->moe_spec().experts_size();
  totals.layers.resize(moe_layers_.size());
  std::vector<double> values = {totals.ce_sum,
                                totals.aux,
                                static_cast<double>(totals.loss_tokens),
                                static_cast<double>(totals.tokens),
                                static_cast<double>(totals.micro_batches),
                                static_cast<double>(totals.samples)};
  for (LayerTotals& layer : totals.layers) {
    layer.tokens.resize(experts, 0);
    for (int64_t n : layer.tokens) values.push_back(static_cast<double>(n));
    values.insert(values.end(), {static_cast<double>(layer.dropped), layer.load_balance_loss,
                                 layer.z_loss, layer.router_entropy});
  }
  torch::Tensor reduced = torch::tensor(values, torch::kFloat64);
  comm_.AllReduceSum(reduced);
  const std::vector<double> sums(reduced.data_ptr<double>(),
                                 reduced.data_ptr<double>() + reduced.numel());
  size_t i = 0;
  totals.ce_sum = sums[i++];
  totals.aux = sums[i++];
  totals.loss_tokens = static_cast<int64_t>(sums[i++]);
  totals.tokens = static_cast<int64_t>(sums[i++]);
  totals.micro_batches = static_cast<int64_t>(sums[i++]);
  totals.samples = static_cast<int64_t>(sums[i++]);
  for (LayerTotals& layer : totals.layers) {
    for (int64_t& n : layer.tokens) n = static_cast<int64_t>(sums[i++]);
    layer.dropped = static_cast<int64_t>(sums[i++]);
    layer.load_balance_loss = sums[i++];
    layer.z_loss = sums[i++];
    layer.router_entropy = sums[i++];
  }

  const double now = Now();
  StepReport r;
  r.step = state_.step;
  r.total_steps = schedule_->total_steps();
  r.batch = state_.batches;
  r.total_batches = total_batches_;
  r.epoch = state_.epoch;
  r.epoch_ended = epoch_ended;
  r.loss = since_report_.ce_sum / std::max<int64_t>(since_report_.loss_tokens, 1);
  r.aux_loss = since_report_.aux / std::max<int64_t>(since_report_.micro_batches, 1);
  r.lr = lr;
  r.grad_norm = grad_norm;
  const double elapsed = std::max(now - report_started_, 1e-9);
  r.tokens_per_second = since_report_.tokens / elapsed;
  r.samples_per_second = since_report_.samples / elapsed;
  r.step_seconds = elapsed / std::max<int64_t>(since_report_.steps, 1);
  r.model_flops_per_second = model_flops_per_token_ * r.tokens_per_second;
  r.peak_flops_per_second = peak_flops_;
  // Per-layer means are over every rank's micro-batches.
  const double micro_batches = std::max<int64_t>(since_report_.micro_batches, 1);
  for (size_t l = 0; l < since_report_.layers.size(); ++l) {
    const LayerTotals& t = since_report_.layers[l];
    LayerReport layer;
    layer.layer = moe_layers_[l];
    int64_t assigned = t.dropped;
    for (int64_t n : t.tokens) assigned += n;
    for (int64_t n : t.tokens) {
      layer.expert_share.push_back(assigned > 0 ? static_cast<double>(n) / (assigned - t.dropped)
                                                : 0);
    }
    layer.dropped_fraction = assigned > 0 ? static_cast<double>(t.dropped) / assigned : 0;
    layer.load_balance_loss = t.load_balance_loss / micro_batches;
    layer.z_loss = t.z_loss / micro_batches;
    layer.router_entropy = t.router_entropy / micro_batches;
    r.layers.push_back(std::move(layer));
  }
  // The whole model's shares: every MoE layer's routed tokens together.
  std::vector<int64_t> routed_by_expert(experts, 0);
  int64_t routed = 0;
  for (const LayerTotals& t : since_report_.layers) {
    for (size_t e = 0; e < experts; ++e) routed_by_expert[e] += t.tokens[e];
  }
  for (int64_t n : routed_by_expert) routed += n;
  for (int64_t n : routed_by_expert)
    r.expert_share.push_back(routed > 0 ? static_cast<double>(n) / routed : 0);
  progress_.OnStep(r);
  since_report_ = StepTotals();
  report_started_ = now;
}

absl::Status Trainer::RunEvaluation() {
  ASSIGN_OR_RETURN(const EvalResult result,
                   Evaluate(model_, *tokenizer_, spec_.data(), *eval_set_));
  model_->train();
  progress_.OnMessage(absl::StrCat("eval step ", state_.step, ": ", result.ToJson().dump()));
  return absl::OkStatus();
}

void Trainer::GatherParameters() {
  torch::NoGradGuard no_grad;
  torch::Tensor& params = flat_->params();
  const torch::Tensor mine =
      params.narrow(0, optimizer_->begin(), optimizer_->end() - optimizer_->begin()).clone();
  comm_.AllGather(mine, params);
}

absl::Status Trainer::Checkpoint() {
  // Every rank writes its optimizer partition, rank 0 the rest; committed once all are durable.
  const double started = Now();
  ASSIGN_OR_RETURN(const std::filesystem::path dir,
                   SaveCheckpoint(spec_.checkpoint().output_dir(), state_, spec_, model_,
                                  *optimizer_, *flat_, comm_));
  if (comm_.rank() != 0) return absl::OkStatus();
  CheckpointReport report{state_.step, dir.string(), Now() - started, 0};
  report.epoch = state_.epoch;
  report.data_position = state_.data_position;
  report.world_size = state_.world_size;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    report.bytes += entry.is_regular_file(ec) ? entry.file_size(ec) : 0;
  }
  progress_.OnCheckpoint(report);
  for (const auto& deleted : ApplyRetention(spec_.checkpoint().output_dir(),
                                            spec_.checkpoint().keep_last(), state_.step)) {
    progress_.OnMessage(absl::StrCat("retention: deleted ", deleted.string()));
  }
  return absl::OkStatus();
}

}  // namespace moe::worker
