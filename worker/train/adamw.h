// AdamW (decoupled weight decay, Loshchilov & Hutter; torch.optim.AdamW's update) over one
// contiguous range of the flat parameter buffer, with fp32 master weights, exp_avg and
// exp_avg_sq for that range only, so that ZeRO gives each rank its own partition. Weight decay
// applies to matrices, not to norm weights.
//
// Placement: by default the state lives on the parameters' device and a step works through the
// range kChunk elements at a time with tensor operations, so its temporaries stay that small.
// Offloaded (zero.offload_optimizer: cpu), the state lives in host memory (pinned when the
// parameters are on a GPU), the gradient must be there too, and a step is one fused pass on the
// host's cores (host_adamw.h) whose new weights go to the device through a pinned staging
// buffer (copied without blocking the host), or straight into a CPU model's flat buffer.
#ifndef MOE_WORKER_TRAIN_ADAMW_H_
#define MOE_WORKER_TRAIN_ADAMW_H_

#include <torch/torch.h>

#include <vector>

#include "moe/v1/job.pb.h"
#include "worker/train/flat_parameters.h"

namespace moe::worker {

class AdamW {
 public:
  // Owns the range [begin, end) of `flat`, whose current values seed the master weights.
  AdamW(const moe::v1::TrainingSpec& spec, FlatParameters& flat, int64_t begin, int64_t end,
        bool offload = false);

  // One update with `lr` from grad_range (fp32, [end - begin], contiguous, where the state
  // lives); writes the new master weights back into the flat parameter buffer (in its dtype).
  void Step(const torch::Tensor& grad_range, double lr);
  static constexpr int64_t kChunk = int64_t{1} << 24;  // elements per piece of a step

  torch::Tensor& master() { return master_; }
  torch::Tensor& exp_avg() { return exp_avg_; }
  torch::Tensor& exp_avg_sq() { return exp_avg_sq_; }
  const torch::Tensor& master() const { return master_; }
  const torch::Tensor& exp_avg() const { return exp_avg_; }
  const torch::Tensor& exp_avg_sq() const { return exp_avg_sq_; }
  int64_t step() const { return step_; }
  void set_step(int64_t step) { step_ = step; }
  int64_t begin() const { return begin_; }
  int64_t end() const { return end_; }
  bool offloaded() const { return offload_; }
  // Where the state and the gradient live: the parameters' device, or the host.
  torch::Device state_device() const { return master_.device(); }
  // Copies the master weights into the flat parameter buffer (after a restore).
  void PublishMaster();

 private:
  void StepTensors(const torch::Tensor& grad, double lr);
  void StepOnHost(const torch::Tensor& grad, double lr);

  FlatParameters& flat_;
  const int64_t begin_, end_;
  const bool offload_;
  const double beta1_, beta2_, eps_, weight_decay_;
  torch::Tensor master_, exp_avg_, exp_avg_sq_;  // fp32 [end - begin]
  // [first, end) element ranges, relative to begin, that weight decay applies to (merged).
  std::vector<std::pair<int64_t, int64_t>> decay_ranges_;
  // Offloaded, parameters on a GPU: the new weights in the model's dtype, pinned [end - begin].
  torch::Tensor staging_;
  int64_t step_ = 0;
};

}  // namespace moe::worker

#endif  // MOE_WORKER_TRAIN_ADAMW_H_
