// The learning rate of each optimizer step: linear warmup from 0, then linear decay to 0 at the
// last step (Hugging Face's get_linear_schedule_with_warmup), cosine decay, or constant.
#ifndef MOE_WORKER_TRAIN_LR_SCHEDULE_H_
#define MOE_WORKER_TRAIN_LR_SCHEDULE_H_

#include <cstdint>

#include "moe/v1/job.pb.h"

namespace moe::worker {

class LrSchedule {
 public:
  // `total_steps`: optimizer steps in the whole run (> 0).
  LrSchedule(const moe::v1::TrainingSpec& spec, int64_t total_steps);

  // The rate for update number `step` (1-based): base * step / warmup during warmup, then the
  // decay over (step - warmup) / (total - warmup), reaching 0 at step == total.
  double At(int64_t step) const;

  int64_t total_steps() const { return total_steps_; }

 private:
  double base_;
  int64_t warmup_;
  int64_t total_steps_;
  moe::v1::LrSchedule kind_;
};

}  // namespace moe::worker

#endif  // MOE_WORKER_TRAIN_LR_SCHEDULE_H_
