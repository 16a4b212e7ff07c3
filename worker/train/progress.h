// Where training progress goes: the terminal, a JSON-lines file; the coordinator (gRPC) and
// TensorBoard later. The trainer calls the sink; sinks never call back into the trainer.
#ifndef MOE_WORKER_TRAIN_PROGRESS_H_
#define MOE_WORKER_TRAIN_PROGRESS_H_

#include <cstdint>
#include <string>
#include <vector>

namespace moe::worker {

struct StepReport {
  int64_t step = 0, total_steps = 0;     // optimizer steps
  int64_t batch = 0, total_batches = 0;  // micro-batches (per rank)
  int64_t epoch = 0;
  double loss = 0;      // token-mean cross-entropy since the last report
  double aux_loss = 0;  // mean weighted MoE loss since the last report
  double lr = 0;
  double grad_norm = 0;              // before clipping, of the last step
  double tokens_per_second = 0;      // non-padding tokens, all ranks
  std::vector<double> expert_share;  // fraction of routed tokens per expert
};

class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  virtual void OnStep(const StepReport& report) = 0;
  virtual void OnCheckpoint(int64_t step, const std::string& dir) = 0;
  virtual void OnMessage(const std::string& message) = 0;
};

// Logs one line per report:
// step 120/10991 | batch 480/43963 | loss 2.1234 | lr 1.98e-05 | 41k tok/s | experts 27/24/25/24% |
// grad 0.83
class TerminalProgress : public ProgressSink {
 public:
  void OnStep(const StepReport& report) override;
  void OnCheckpoint(int64_t step, const std::string& dir) override;
  void OnMessage(const std::string& message) override;
};

// Passes everything to each of several sinks, in order. The sinks must outlive it.
class FanOutProgress : public ProgressSink {
 public:
  explicit FanOutProgress(std::vector<ProgressSink*> sinks) : sinks_(std::move(sinks)) {}
  void OnStep(const StepReport& report) override {
    for (ProgressSink* sink : sinks_) sink->OnStep(report);
  }
  void OnCheckpoint(int64_t step, const std::string& dir) override {
    for (ProgressSink* sink : sinks_) sink->OnCheckpoint(step, dir);
  }
  void OnMessage(const std::string& message) override {
    for (ProgressSink* sink : sinks_) sink->OnMessage(message);
  }

 private:
  std::vector<ProgressSink*> sinks_;
};

}  // namespace moe::worker

#endif  // MOE_WORKER_TRAIN_PROGRESS_H_
