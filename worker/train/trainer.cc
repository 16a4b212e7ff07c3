#include "worker/train/trainer.h"

#include <cstdlib>
#include <limits>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/checkpoint_manifest.h"
#include "common/disk_full.h"
#include "common/exit_codes.h"
#include "common/model_config.h"
#include "common/status_macros.h"
#include "common/steady_seconds.h"
#include "worker/model/hf_checkpoint.h"
#include "worker/parallel/memory_stats.h"
#include "worker/train/batch_tensors.h"
#include "worker/train/evaluator.h"

namespace moe::worker {
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
  const common::ParameterCount count = common::CountParameters(config, moe);
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
  loss_tokens += other.loss_tokens;
  tokens += other.tokens;
  micro_batches += other.micro_batches;
  samples += other.samples;
  steps += other.steps;
  losses.add_(other.losses);
  layers.add_(other.layers);
}

torch::Tensor SummedCrossEntropy(const torch::Tensor& logits_BTV, const torch::Tensor& labels_BT) {
  namespace F = torch::nn::functional;
  return F::cross_entropy(
      logits_BTV.reshape({-1, logits_BTV.size(-1)}).to(torch::kFloat32), labels_BT.reshape({-1}),
      F::CrossEntropyFuncOptions().ignore_index(kIgnoreLabel).reduction(torch::kSum));
}

Trainer::Trainer(const moe::v1::JobSpec& spec, const TrainOptions& options, Communicator& comm,
                 ProgressSink& progress)
    : spec_(spec), options_(options), comm_(comm), progress_(progress), device_(comm.device()) {}

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::Create(const moe::v1::JobSpec& spec,
                                                         const TrainOptions& options,
                                                         Communicator& comm,
                                                         ProgressSink& progress) {
  auto t = std::unique_ptr<Trainer>(new Trainer(spec, options, comm, progress));
  ASSIGN_OR_RETURN(t->tokenizer_, Tokenizer::FromFile(spec.model().tokenizer()));
  const std::vector<std::string> experts(spec.model().moe().experts().begin(),
                                         spec.model().moe().experts().end());
  ASSIGN_OR_RETURN(t->dataset_, Dataset::Load(spec.data(), *t->tokenizer_, experts));
  // The default generators start from the job's seed (as Accelerate's set_seed does), so a
  // checkpoint's RNG state is the same in every run of the spec.
  torch::manual_seed(spec.training().seed());
  // Created on the device in its dtype: never a full fp32 copy on the host first.
  const torch::ScalarType dtype =
      spec.model().precision() == moe::v1::PRECISION_BF16 ? torch::kBFloat16 : torch::kFloat32;
  ASSIGN_OR_RETURN(t->model_,
                   BuildModel(spec.model(), t->tokenizer_->size(), spec.training().seed(),
                              torch::dtype(dtype).device(t->device_)));
  t->model_->train();
  ASSIGN_OR_RETURN(t->accumulation_, GradAccumulationFor(spec, comm.world_size()));
  if (comm.world_size() != static_cast<int>(spec.resources().world_size())) {
    progress.OnMessage(absl::StrCat(comm.world_size(), " ranks where the spec plans ",
                                    spec.resources().world_size(), ": gradient accumulation ",
                                    t->accumulation_, " (not ", spec.training().grad_accumulation(),
                                    ") keeps the global batch"));
  }
  // From the model's own config: a Hugging Face model's is in its config.json, not the spec.
  for (const int layer :
       common::MoeLayers(static_cast<int>(t->model_->config().n_layers()), t->model_->moe_spec())) {
    t->moe_layers_.push_back(static_cast<uint32_t>(layer));
  }
  t->model_flops_per_token_ =
      ModelFlopsPerToken(t->model_->config(), t->model_->moe_spec(), spec.data().max_seq_len());
  ASSIGN_OR_RETURN(const double peak, DevicePeakFlops());
  t->peak_flops_ = peak * comm.world_size();
  t->flat_ = std::make_unique<FlatParameters>(*t->model_, 2 * comm.world_size());
  t->sync_ = MakeGradientSync(spec.zero(), *t->flat_, comm);
  t->optimizer_ =
      std::make_unique<AdamW>(spec.training(), *t->flat_, t->sync_->begin(), t->sync_->end(),
                              spec.zero().offload_optimizer() == moe::v1::OFFLOAD_DEVICE_CPU);
  t->stop_ = std::make_unique<StopAgreement>(options.stop_requested, comm);
  ASSIGN_OR_RETURN(t->checkpointer_, Checkpointer::Create(t->spec_, t->model_, *t->optimizer_,
                                                          *t->flat_, comm, progress));
  moe::v1::JobSpec resolved = spec;
  *resolved.mutable_model()->mutable_config() = t->model_->config();
  resolved.mutable_resources()->set_device(t->device_.is_cuda() ? moe::v1::DEVICE_CUDA
                                                                : moe::v1::DEVICE_CPU);
  t->plan_ = common::PlanMemory(resolved, comm.world_size(), t->flat_->params().numel(),
                                t->sync_->BucketBytes());
  progress.OnMessage(absl::StrCat("rank ", comm.rank(), " of ", comm.world_size(), " on ",
                                  t->device_.str(), " (", t->sync_->Describe(),
                                  "): memory plan per rank, micro-batch ",
                                  spec.training().micro_batch_size(), " x ",
                                  spec.data().max_seq_len(), "\n", t->plan_.Table()));

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

Trainer::StepTotals Trainer::ZeroTotals() const {
  StepTotals totals;
  const auto f64 = torch::dtype(torch::kFloat64).device(device_);
  totals.losses = torch::zeros({2}, f64);
  totals.layers = torch::zeros({static_cast<int64_t>(moe_layers_.size()),
                                model_->moe_spec().experts_size() + MoeStats::kSummaryScalars},
                               f64);
  return totals;
}

Trainer::StepTotals Trainer::ForwardBackward(const std::vector<Batch>& batches) {
  StepTotals totals = ZeroTotals();
  for (const Batch& b : batches) totals.loss_tokens += b.loss_tokens;
  // Every rank's answer tokens of this step: the loss's denominator, kept on the device.
  torch::Tensor denominator = torch::full({1}, static_cast<double>(totals.loss_tokens),
                                          torch::dtype(torch::kFloat32).device(device_));
  comm_.AllReduceSum(denominator);
  denominator = denominator.clamp_min(1.0).reshape({});
  const double aux_scale = 1.0 / (static_cast<double>(batches.size()) * comm_.world_size());
  for (const Batch& b : batches) {
    const ModelOutput out = model_->forward(ToModelInputs(b, device_));
    const torch::Tensor ce = SummedCrossEntropy(out.logits_BTV, LabelsOf(b, device_));
    (ce / denominator + out.aux_loss * aux_scale).backward();
    sync_->FinishMicroBatch();
    torch::NoGradGuard no_grad;
    totals.losses.add_(torch::stack({ce.detach(), out.aux_loss.detach()}));
    for (size_t l = 0; l < out.moe_stats.size(); ++l) {
      totals.layers[static_cast<int64_t>(l)].add_(out.moe_stats[l].Summary());
    }
    totals.tokens += b.tokens;
    totals.samples += static_cast<int64_t>(b.samples.size());
    ++totals.micro_batches;
  }
  return totals;
}

std::string Trainer::OutOfMemoryNote() const {
  const auto [term, bytes] = plan_.LargestDeviceTerm();
  return absl::StrFormat(
      "this rank's memory plan is %.4g GB on the device, the largest term %s (%.4g GB); "
      "`moectl plan` on the spec with --gpu-memory lists the changes that fit",
      plan_.total() / 1e9, term, bytes / 1e9);
}

Trainer::StepResult Trainer::Step() {
  StepResult step;
  const std::vector<Batch> batches = NextBatches();
  step.totals = ForwardBackward(batches);
  step.grad_norm = sync_->ClipGradNorm(spec_.training().max_grad_norm());
  step.lr = schedule_->At(state_.step + 1);
  optimizer_->Step(sync_->grad(), step.lr);
  sync_->FinishUpdate();
  return step;
}

absl::Status Trainer::Run() {
  try {
    return Loop();
  } catch (const c10::Error& e) {  // LibTorch: out of memory, a shape error, ...
    const std::string what = e.what_without_backtrace();
    const std::string message = absl::StrCat("training step ", state_.step + 1, ": ", what);
    // CUDA's allocator says "CUDA out of memory"; CPU's "DefaultCPUAllocator: not enough memory".
    if (absl::StrContains(what, "out of memory") || absl::StrContains(what, "not enough memory")) {
      return absl::ResourceExhaustedError(absl::StrCat(message, "; ", OutOfMemoryNote()));
    }
    return absl::InternalError(message);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(
        absl::StrCat("training step ", state_.step + 1, ": out of memory; ", OutOfMemoryNote()));
  } catch (const std::exception& e) {  // e.g. Gloo: a peer's connection closed
    return absl::InternalError(absl::StrCat("training step ", state_.step + 1, ": ", e.what()));
  }
}

absl::Status Trainer::Loop() {
  report_started_ = common::SteadySeconds();
  const int64_t stop_at = options_.stop_after_steps;
  if (stop_at > 0 && state_.step >= stop_at) {
    // Resumed at or past the stop: make sure that step's checkpoint is in this job's output
    // directory (rank 0 decides, so every rank takes the same path through the collective).
    torch::Tensor missing =
        torch::full({1},
                    std::filesystem::exists(std::filesystem::path(spec_.checkpoint().output_dir()) /
                                            CheckpointName(state_.step))
                        ? 0.0f
                        : 1.0f,
                    torch::dtype(torch::kFloat32).device(device_));
    comm_.Broadcast(missing, 0);
    return missing.item<float>() > 0 ? checkpointer_->SaveFinal(state_) : absl::OkStatus();
  }
  since_report_ = ZeroTotals();
  checkpointer_->StartAt(state_.step);
  ResetPeakAllocated(device_);
  for (bool stop = false; !stop && state_.step < schedule_->total_steps() &&
                          state_.epoch < spec_.training().epochs();) {
    RETURN_IF_ERROR(FinishStep(Step(), &stop));
  }
  if (const int64_t peak = PeakAllocatedBytes(device_); peak >= 0) {
    progress_.OnMessage(absl::StrCat("rank ", comm_.rank(), ": peak ", device_.str(),
                                     " memory in training ", peak / 1e9, " GB (plan ",
                                     plan_.total() / 1e9, " GB)"));
  }
  return absl::OkStatus();
}

absl::Status Trainer::FinishStep(const StepResult& step, bool* stop) {
  checkpointer_->Poll();  // a background save that has committed is reported now
  ++state_.step;
  state_.batches += step.totals.micro_batches;
  since_report_.steps += 1;
  state_.data_position = loader_->position();
  since_report_.Add(step.totals);

  const bool epoch_ended = loader_->position() >= dataset_->size();
  if (epoch_ended) {
    ++state_.epoch;
    loader_->Seek(state_.epoch, 0);
    state_.data_position = 0;
  }
  const bool last = state_.step == schedule_->total_steps();
  const bool requested = stop_->ShouldStop();
  const int64_t stop_at = options_.stop_after_steps;
  *stop = (stop_at > 0 && state_.step >= stop_at) || requested;
  if (state_.step % spec_.logging().logging_steps() == 0 || last || *stop || epoch_ended) {
    Report(step.lr, step.grad_norm, epoch_ended);
  }
  if (requested && !last) {
    // Stop now, without the stop's save, when it could not commit before the deadline (a spot
    // notice, the grace period): the newest periodic checkpoint is the resume point.
    std::string why;
    const double left = options_.stop_deadline != nullptr ? options_.stop_deadline->SecondsLeft()
                                                          : std::numeric_limits<double>::infinity();
    if (!checkpointer_->PrepareStop(left, &why)) {
      return common::StoppedWithoutSaveError(absl::StrCat(
          "stopped on request at step ", state_.step, " without a checkpoint of it: ", why,
          "; the newest committed checkpoint is the resume point"));
    }
  }
  if (last || *stop) {
    RETURN_IF_ERROR(checkpointer_->SaveFinal(state_));
  } else if (checkpointer_->PeriodicDue(state_, epoch_ended)) {
    checkpointer_->SavePeriodic(state_);
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
  return absl::OkStatus();
}

void Trainer::Report(double lr, const torch::Tensor& grad_norm, bool epoch_ended) {
  // One all_reduce of every counter, so the report is of the whole global batch, and one copy
  // to the host.
  StepTotals& totals = since_report_;
  const auto f64 = torch::dtype(torch::kFloat64).device(device_);
  // This rank's seconds per step, less the saves' stalls, and those stalls: their means over
  // ranks, the same on every rank, move the save interval (save_steps: auto).
  const double now = common::SteadySeconds();
  const auto [save_cost, saves] = checkpointer_->TakeSaveCosts();
  const double step_seconds =
      std::max(now - report_started_ - save_cost, 0.0) / std::max<int64_t>(totals.steps, 1);
  torch::Tensor counts =
      torch::tensor({static_cast<double>(totals.loss_tokens), static_cast<double>(totals.tokens),
                     static_cast<double>(totals.micro_batches), static_cast<double>(totals.samples),
                     step_seconds, save_cost, static_cast<double>(saves)},
                    torch::kFloat64);  // host: host counters, copied to the device below
  if (device_.is_cuda()) counts = counts.pin_memory();  // copied without a wait
  torch::Tensor reduced = torch::cat(
      {totals.losses, counts.to(device_, /*non_blocking=*/true), totals.layers.reshape({-1})});
  comm_.AllReduceSum(reduced);
  const torch::Tensor host =
      torch::cat({reduced, grad_norm.to(f64).reshape({1})}).to(torch::kCPU).contiguous();
  const double* sums = host.data_ptr<double>();
  const double ce_sum = sums[0], aux = sums[1];
  totals.loss_tokens = static_cast<int64_t>(sums[2]);
  totals.tokens = static_cast<int64_t>(sums[3]);
  totals.micro_batches = static_cast<int64_t>(sums[4]);
  totals.samples = static_cast<int64_t>(sums[5]);
  const int world = comm_.world_size();
  checkpointer_->Observe(sums[6] / world, sums[8] > 0 ? sums[7] / sums[8] : 0);
  const double grad_norm_value = sums[host.numel() - 1];
  const size_t experts = model_->moe_spec().experts_size();
  struct LayerTotals {
    std::vector<double> tokens;
    double dropped, load_balance_loss, z_loss, label_loss, router_entropy;
  };
  std::vector<LayerTotals> layers(moe_layers_.size());
  size_t i = 9;  // after the losses and counts
  for (LayerTotals& layer : layers) {
    layer.tokens.assign(sums + i, sums + i + experts);
    i += experts;
    layer.dropped = sums[i++];
    layer.load_balance_loss = sums[i++];
    layer.z_loss = sums[i++];
    layer.label_loss = sums[i++];
    layer.router_entropy = sums[i++];
  }

  StepReport r;
  r.step = state_.step;
  r.total_steps = schedule_->total_steps();
  r.batch = state_.batches;
  r.total_batches = total_batches_;
  r.epoch = state_.epoch;
  r.epoch_ended = epoch_ended;
  const double micro_batches = std::max<int64_t>(since_report_.micro_batches, 1);
  const double elapsed = std::max(now - report_started_, 1e-9);
  const double tokens_per_second = since_report_.tokens / elapsed;
  r.values[common::kLoss] = ce_sum / std::max<int64_t>(since_report_.loss_tokens, 1);
  r.values[common::kAuxLoss] = aux / micro_batches;
  r.values[common::kLearningRate] = lr;
  r.values[common::kGradNorm] = grad_norm_value;
  r.values[common::kTokensPerSecond] = tokens_per_second;
  r.values[common::kSamplesPerSecond] = since_report_.samples / elapsed;
  r.values[common::kStepSeconds] = elapsed / std::max<int64_t>(since_report_.steps, 1);
  r.values[common::kModelFlopsPerSecond] = model_flops_per_token_ * tokens_per_second;
  if (peak_flops_ > 0) {
    r.values[common::kModelFlopsUtilization] =
        model_flops_per_token_ * tokens_per_second / peak_flops_;
  }
  // Per-layer means are over every rank's micro-batches.
  for (size_t l = 0; l < layers.size(); ++l) {
    const LayerTotals& t = layers[l];
    LayerReport layer;
    layer.layer = moe_layers_[l];
    double assigned = t.dropped;
    for (double n : t.tokens) assigned += n;
    for (double n : t.tokens) {
      layer.expert_share.push_back(assigned - t.dropped > 0 ? n / (assigned - t.dropped) : 0);
    }
    layer.values[common::kDroppedFraction] = assigned > 0 ? t.dropped / assigned : 0;
    layer.values[common::kLoadBalanceLoss] = t.load_balance_loss / micro_batches;
    layer.values[common::kZLoss] = t.z_loss / micro_batches;
    layer.values[common::kLabelLoss] = t.label_loss / micro_batches;
    layer.values[common::kRouterEntropy] = t.router_entropy / micro_batches;
    r.layers.push_back(std::move(layer));
  }
  // The whole model's shares: every MoE layer's routed tokens together.
  std::vector<double> routed_by_expert(experts, 0);
  double routed = 0;
  for (const LayerTotals& t : layers) {
    for (size_t e = 0; e < experts; ++e) routed_by_expert[e] += t.tokens[e];
  }
  for (double n : routed_by_expert) routed += n;
  for (double n : routed_by_expert) r.expert_share.push_back(routed > 0 ? n / routed : 0);
  progress_.OnStep(r);
  since_report_ = ZeroTotals();
  report_started_ = now;
}

absl::Status Trainer::RunEvaluation() {
  const BusyScope busy(progress_);
  ASSIGN_OR_RETURN(const EvalResult result,
                   Evaluate(model_, *tokenizer_, spec_.data(), *eval_set_));
  model_->train();
  progress_.OnMessage(absl::StrCat("eval step ", state_.step, ": ", result.ToJson().dump()));
  return absl::OkStatus();
}

}  // namespace moe::worker
