// Where training progress goes: the terminal, a JSON-lines file, moed (gRPC), TensorBoard —
// every sink lives in worker/report/. The trainer calls the sink; sinks never call back into
// the trainer. Training metrics are values of the table in common/step_metrics.h: a sink
// writes every row of it and names none.
#ifndef MOE_WORKER_REPORT_PROGRESS_H_
#define MOE_WORKER_REPORT_PROGRESS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/step_metrics.h"

namespace moe::worker {

// One MoE layer over the steps since the last report (all ranks).
struct LayerReport {
  int32_t layer = 0;                 // block index
  std::vector<double> expert_share;  // fraction of the layer's routed assignments per expert
  common::StepValues values;         // the layer-scope metrics
};

struct StepReport {
  int64_t step = 0, total_steps = 0;     // optimizer steps
  int64_t batch = 0, total_batches = 0;  // micro-batches (per rank)
  int64_t epoch = 0;                     // of the data position after the step
  bool epoch_ended = false;          // the report's last step finished an epoch (always reported)
  common::StepValues values;         // the run-scope metrics
  std::vector<double> expert_share;  // fraction of routed tokens per expert, all MoE layers
  std::vector<LayerReport> layers;   // MoE layers, in block order

  double value(common::StepMetric metric) const { return values[metric].value_or(0); }
};

struct CheckpointReport {
  int64_t step = 0;
  std::string dir;
  double seconds = 0;        // to write and commit, all ranks
  double stall_seconds = 0;  // training waited: the whole save, or an async save's snapshot
  bool async = false;        // written in the background while training went on
  uint64_t bytes = 0;
  int64_t epoch = 0;  // the training state it holds
  uint64_t data_position = 0;
  int32_t world_size = 1;
  // The periodic saves' interval in use after this one, and why (checkpoint.save_steps, or
  // the Young/Daly rule's measurements for `auto`).
  int64_t interval_steps = 0;
  std::string interval_why;
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

// Tells the sinks the rank is busy (a save, an evaluation) while it lives.
class BusyScope {
 public:
  explicit BusyScope(ProgressSink& progress) : progress_(progress) { progress_.OnBusy(true); }
  ~BusyScope() { progress_.OnBusy(false); }
  BusyScope(const BusyScope&) = delete;
  BusyScope& operator=(const BusyScope&) = delete;

 private:
  ProgressSink& progress_;
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

#endif  // MOE_WORKER_REPORT_PROGRESS_H_
