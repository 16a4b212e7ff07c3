// The AdamW update of ZeRO-Offload: one fused, vectorised pass over a rank's partition in host
// memory, run on ATen's intra-op threads. Each element's gradient is read once; its master
// weight and moments are updated in place; the new weight is written out in the model's dtype
// (to the device's staging buffer, or straight into a CPU model's flat parameters).
//
// The arithmetic is adamw.cc's tensor path element by element, in fp32 with the same scalars
// rounded the same way (torch.optim.AdamW's update), so the two agree to rounding (LibTorch's
// kernels fuse some multiply-adds). Compiled without FMA contraction, so that the AVX-512, AVX2
// and baseline builds of the loop, and any number of threads, give the same bits.
#ifndef MOE_WORKER_TRAIN_HOST_ADAMW_H_
#define MOE_WORKER_TRAIN_HOST_ADAMW_H_

#include <cstdint>

namespace moe::worker {

// The step's scalars, computed in double and rounded to fp32 as the tensor path's are.
struct HostAdamWScalars {
  float beta1, one_minus_beta1, beta2, one_minus_beta2, eps;
  float decay_factor;  // 1 - lr * weight_decay (applied where `decay`)
  float bias2_sqrt;    // sqrt(1 - beta2^t)
  float step_size;     // -lr / (1 - beta1^t)
  static HostAdamWScalars For(double lr, double beta1, double beta2, double eps,
                              double weight_decay, int64_t step);
};

// Where the updated weights go: fp32, bf16 (round to nearest even, as c10::BFloat16), or
// nowhere (nullptr).
struct HostAdamWOut {
  float* fp32 = nullptr;
  uint16_t* bf16 = nullptr;
};

// Updates n elements of master, exp_avg and exp_avg_sq from grad (all fp32, host memory) and
// writes the new weights to out. Splits the work over ATen's intra-op thread pool.
void HostAdamWStep(const HostAdamWScalars& s, bool decay, const float* grad, float* master,
                   float* exp_avg, float* exp_avg_sq, HostAdamWOut out, int64_t n);

}  // namespace moe::worker

#endif  // MOE_WORKER_TRAIN_HOST_ADAMW_H_
