// Where training progress goes: the terminal, a JSON-lines file; the coordinator (gRPC) and
// TensorBoard later. The trainer calls the sink; sinks never call back into the trainer.
#ifndef MOE_WORKER_TRAIN_PROGRESS_H_
#define MOE_WORKER_TRAIN_PROGRESS_H_

#include <cstdint>
#include <string>
#include <vector>

namespace moe::worker {

// One MoE layer over the steps since the last report (all ranks).
struct LayerReport {
  int32_t layer = 0;                 // block index
  std::vector<double> expert_share;  // fraction of the layer's routed assignments per expert
  double dropped_fraction = 0;       // assignments dropped for capacity
  double load_balance_loss = 0;      // Switch loss, 1 at perfect balance (unweighted mean)
  double z_loss = 0;                 // router z-loss (unweighted mean)
  double router_entropy = 0;         // nats, mean
};

struct StepReport {
  int64_t step = 0, total_steps = 0;     // optimizer steps
  int64_t batch = 0, total_batches = 0;  // micro-batches (per rank)
  int64_t epoch = 0;                     // of the data position after the step
  bool epoch_ended = false;  // the report's last step finished an epoch (always reported)
  double loss = 0;           // token-mean cross-entropy since the last report
  double aux_loss = 0;       // mean weighted MoE loss since the last report
  double lr = 0;
  double grad_norm = 0;              // before clipping, of the last step
  double tokens_per_second = 0;      // non-padding tokens, all ranks
  std::vector<double> expert_share;  // fraction of routed tokens per expert
  double samples_per_second = 0;     // all ranks
  double step_seconds = 0;           // mean wall time of an optimizer step since the last report
  // Model FLOPs per second, (6 N_active + 12 L d T) per token, and the devices' peak (0 when
  // unknown); their ratio is the model FLOPs utilisation.
  double model_flops_per_second = 0, peak_flops_per_second = 0;
  std::vector<LayerReport> layers;  // MoE layers, in block order
};

struct CheckpointReport {
  int64_t step = 0;
  std::string dir;
  double seconds = 0;  // to write and commit, all ranks
  uint64_t bytes = 0;
  int64_t epoch = 0;  // the training state it holds
  uint64_t data_position = 0;
  int32_t world_size = 1;
};

// A checkpoint that could not be written.
struct CheckpointFailure {
  int64_t step = 0;
  std::string error;          // which file, why
  bool ends_run = false;      // the final or a stop's save: the run ends with the error
  bool disk_full = false;     // its file system ran out of space (common/disk_full.h)
  std::string dir;            // the checkpoint directory it was writing
  uint64_t bytes_needed = 0;  // what the whole save needs there (disk_full)
};

class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  virtual void OnStep(const StepReport& report) = 0;
  virtual void OnCheckpoint(const CheckpointReport& checkpoint) = 0;
  // A checkpoint could not be written: training goes on from the previous one (a periodic
  // save), or the run ends with the error (the final or a stop's save). Sinks that do not track
  // checkpoints ignore it.
  virtual void OnCheckpointFailed(const CheckpointFailure& failure) {}
  virtual void OnMessage(const std::string& message) = 0;
  // The rank starts (true) or ends (false) work without step reports: a checkpoint save, an
  // evaluation. Sinks that do not watch progress ignore it.
  virtual void OnBusy(bool busy) {}
};

// Logs one line per report:
// step 120/10991 | batch 480/43963 | loss 2.1234 | lr 1.98e-05 | 41k tok/s | experts 27/24/25/24% |
// grad 0.83
class TerminalProgress : public ProgressSink {
 public:
  void OnStep(const StepReport& report) override;
  void OnCheckpoint(const CheckpointReport& checkpoint) override;
  void OnCheckpointFailed(const CheckpointFailure& failure) override;
  void OnMessage(const std::string& message) override;
};

// Passes everything to each of several sinks, in order. The sinks must outlive it.
class FanOutProgress : public ProgressSink {
 public:
  explicit FanOutProgress(std::vector<ProgressSink*> sinks) : sinks_(std::move(sinks)) {}
  void OnStep(const StepReport& report) override {
    for (ProgressSink* sink : sinks_) sink->OnStep(report);
  }
  void OnCheckpoint(const CheckpointReport& checkpoint) override {
    for (ProgressSink* sink : sinks_) sink->OnCheckpoint(checkpoint);
  }
  void OnBusy(bool busy) override {
    for (ProgressSink* sink : sinks_) sink->OnBusy(busy);
  }
  void OnCheckpointFailed(const CheckpointFailure& failure) override {
    for (ProgressSink* sink : sinks_) sink->OnCheckpointFailed(failure);
  }
  void OnMessage(const std::string& message) override {
    for (ProgressSink* sink : sinks_) sink->OnMessage(message);
  }

 private:
  std::vector<ProgressSink*> sinks_;
};

}  // namespace moe::worker

#endif  // MOE_WORKER_TRAIN_PROGRESS_H_
