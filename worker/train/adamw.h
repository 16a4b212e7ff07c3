// AdamW (decoupled weight decay, Loshchilov & Hutter; torch.optim.AdamW's update) over one
// contiguous range of the flat parameter buffer, with fp32 master weights, exp_avg and
// exp_avg_sq for that range only, so that ZeRO gives each rank its own partition. Weight decay
// applies to matrices, not to norm weights. The state lives on the parameters' device; a step
// works through the range kChunk elements at a time, so its temporaries stay that small.
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
  AdamW(const moe::v1::TrainingSpec& spec, FlatParameters& flat, int64_t begin, int64_t end);

  // One update with `lr` from grad_range (fp32, [end - begin], on the parameters' device);
  // writes the new master weights back into the flat parameter buffer (in its dtype).
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
  // Copies the master weights into the flat parameter buffer (after a restore).
  void PublishMaster();

 private:
  FlatParameters& flat_;
  const int64_t begin_, end_;
  const double beta1_, beta2_, eps_, weight_decay_;
  torch::Tensor master_, exp_avg_, exp_avg_sq_;  // fp32 [end - begin]
  // [first, end) element ranges, relative to begin, that weight decay applies to (merged).
  std::vector<std::pair<int64_t, int64_t>> decay_ranges_;
  int64_t step_ = 0;
};

}  // namespace moe::worker

#endif  // MOE_WORKER_TRAIN_ADAMW_H_
