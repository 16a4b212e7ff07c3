// The training loop of one worker. One optimizer step (Trainer::Step) reads as:
//
//   batches = NextBatches();               // up to `accumulation` micro-batches
//   ForwardBackward(batches);              // each micro-batch's gradient into the sync
//                                          // (ZeRO-2: reduced in buckets during backward)
//   norm = sync->ClipGradNorm(max_norm);   // global norm over all ranks, clipped
//   optimizer.Step(sync->grad(), lr);      // AdamW on this rank's fp32 master weights
//   sync->FinishUpdate();                  // ZeRO-2: every rank's partition to every rank
//
// and the rest of the loop is bookkeeping: the data position, reports, checkpoints,
// evaluation and stopping. Everything the step touches lives on the rank's device (the
// communicator's), and the host never waits for the device inside a step: losses and MoE
// statistics stay device tensors until a logging step reduces and reports them.
//
// The global batch is micro_batch_size x grad_accumulation x resources.world_size rows, as the
// spec plans it. On another world size (an elastic resume) the accumulation is adjusted to
// keep it, so the same rows make each optimizer step on any number of ranks.
//
// The loss of a step is the token-mean cross-entropy over every answer token of the step's
// micro-batches on all ranks (each micro-batch's summed loss is divided by that total, so k
// micro-batches give exactly the gradient of one k-times larger batch), plus the MoE layers'
// weighted auxiliary losses averaged over micro-batches.
#ifndef MOE_WORKER_TRAIN_TRAINER_H_
#define MOE_WORKER_TRAIN_TRAINER_H_

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/memory_plan.h"
#include "moe/v1/job.pb.h"
#include "worker/data/data_loader.h"
#include "worker/data/dataset.h"
#include "worker/data/tokenizer.h"
#include "worker/model/mpt_model.h"
#include "worker/parallel/communicator.h"
#include "worker/report/progress.h"
#include "worker/train/adamw.h"
#include "worker/train/checkpoint.h"
#include "worker/train/checkpointer.h"
#include "worker/train/evaluator.h"
#include "worker/train/flat_parameters.h"
#include "worker/train/gradient_sync.h"
#include "worker/train/lr_schedule.h"
#include "worker/train/stop_agreement.h"
#include "worker/train/stop_deadline.h"

namespace moe::worker {

struct TrainOptions {
  std::string resume_from;  // "", "latest", or a checkpoint directory
  // > 0: return once this many steps are done, with a committed checkpoint of that step in
  // the output directory (written now if a resumed run starts there without one).
  int64_t stop_after_steps = 0;
  // When set and it becomes true on any rank (SIGTERM, moed's stop request), all ranks agree
  // on the next step to stop at (an all_reduce each step), commit a checkpoint of it, and Run
  // returns Aborted saying so. Must outlive the trainer.
  const std::atomic<bool>* stop_requested = nullptr;
  // The requested stop's grace period (may be null: none). A stop whose save is predicted
  // not to finish in the time left skips it: Run returns at once, marked
  // common::StoppedWithoutSaveError, and the newest periodic checkpoint is the resume point.
  const StopDeadline* stop_deadline = nullptr;
};

// Micro-batches per optimizer step on `world_size` ranks that keep the spec's global batch
// (training.micro_batch_size x training.grad_accumulation x resources.world_size rows).
// InvalidArgument naming the numbers when it does not divide.
absl::StatusOr<int64_t> GradAccumulationFor(const moe::v1::JobSpec& spec, int world_size);

// Training FLOPs per token of the model (forward and backward, PaLM's convention):
// 6 x active parameters per token + 12 x layers x d_model x sequence length.
double ModelFlopsPerToken(const moe::v1::MptConfig& config, const moe::v1::MoeSpec& moe,
                          int64_t seq_len);

// One device's peak FLOP/s for the training precision: MOE_PEAK_FLOPS when set, else 0
// (unknown; the GPU issue adds the table of known devices).
absl::StatusOr<double> DevicePeakFlops();

class Trainer {
 public:
  // Loads the tokenizer and data, builds (or upcycles) the model on comm.device(), and
  // restores a checkpoint if asked. `comm` and `progress` must outlive the trainer.
  static absl::StatusOr<std::unique_ptr<Trainer>> Create(const moe::v1::JobSpec& spec,
                                                         const TrainOptions& options,
                                                         Communicator& comm,
                                                         ProgressSink& progress);

  // Trains to the end of the spec (or stop_after_steps), checkpointing as the spec says.
  // Internal / ResourceExhausted when LibTorch fails (e.g. out of memory) mid-step.
  absl::Status Run();

  const TrainingState& state() const { return state_; }
  MptForCausalLM& model() { return model_; }
  // This rank's device memory by design (stated in the start log).
  const common::MemoryPlan& memory_plan() const { return plan_; }

 private:
  // What the steps since the last report add up to, on this rank (Report sums over ranks).
  // Counts known from the batches stay on the host; sums of device values stay on the device.
  struct StepTotals {
    int64_t loss_tokens = 0, tokens = 0, micro_batches = 0, samples = 0, steps = 0;
    torch::Tensor losses;  // fp64 [2]: summed answer cross-entropy, summed weighted aux loss
    torch::Tensor layers;  // fp64 [MoE layers, E + 5]: MoeStats::Summary() summed
    void Add(const StepTotals& other);
  };
  // What one optimizer step did.
  struct StepResult {
    StepTotals totals;
    double lr = 0;
    torch::Tensor grad_norm;  // fp64 device scalar, before clipping
  };
  Trainer(const moe::v1::JobSpec& spec, const TrainOptions& options, Communicator& comm,
          ProgressSink& progress);
  absl::Status Restore(const std::string& resume_from);
  // Run's body; LibTorch exceptions escape it and Run turns them into a status.
  absl::Status Loop();
  // One optimizer step (see the top of this file).
  StepResult Step();
  // For an out-of-memory error: the plan's device total and largest term, and where to look.
  std::string OutOfMemoryNote() const;
  // After a step: advances the data position and epoch, reports, checkpoints, evaluates.
  // Sets *stop when the run should end here (OK: the spec's end or stop_after_steps; Aborted:
  // a requested stop, with its checkpoint committed).
  absl::Status FinishStep(const StepResult& step, bool* stop);
  std::vector<Batch> NextBatches();
  StepTotals ForwardBackward(const std::vector<Batch>& batches);
  StepTotals ZeroTotals() const;
  // Scores the held-out split (data.eval_fraction) and reports it.
  absl::Status RunEvaluation();
  // Collective: sums the step totals since the last report over ranks and reports them (the
  // one place a step waits for the device).
  void Report(double lr, const torch::Tensor& grad_norm, bool epoch_ended);

  const moe::v1::JobSpec spec_;
  const TrainOptions options_;
  Communicator& comm_;
  ProgressSink& progress_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<Dataset> dataset_;
  std::unique_ptr<DataLoader> loader_;
  std::unique_ptr<EvalSet> eval_set_;  // the held-out split, when training.eval_every is set
  const torch::Device device_;         // comm_.device(): where every tensor of the step lives
  MptForCausalLM model_{nullptr};
  std::unique_ptr<FlatParameters> flat_;
  std::unique_ptr<GradientSync> sync_;  // ZeRO-2 or replicated
  std::unique_ptr<AdamW> optimizer_;    // over sync_'s range of the flat buffer
  std::unique_ptr<StopAgreement> stop_;
  std::unique_ptr<Checkpointer> checkpointer_;  // when and how to save
  common::MemoryPlan plan_;
  int64_t accumulation_ = 1;          // micro-batches per optimizer step
  std::vector<int32_t> moe_layers_;   // block indices of the MoE layers
  double model_flops_per_token_ = 0;  // 6 N_active + 12 L d T
  double peak_flops_ = 0;             // all devices; 0 when unknown
  std::unique_ptr<LrSchedule> schedule_;
  TrainingState state_;
  int64_t total_batches_ = 0;
  StepTotals since_report_;
  double report_started_ = 0;  // seconds, steady clock
};

// Token-summed cross-entropy of logits [B, T, V] against labels [B, T] (kIgnoreLabel skipped),
// computed in fp32.
torch::Tensor SummedCrossEntropy(const torch::Tensor& logits_BTV, const torch::Tensor& labels_BT);

}  // namespace moe::worker

#endif  // MOE_WORKER_TRAIN_TRAINER_H_
