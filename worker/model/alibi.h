// ALiBi (Press et al.) as MPT uses it: a per-head linear penalty on query-key distance
// instead of position embeddings.
#ifndef MOE_WORKER_MODEL_ALIBI_H_
#define MOE_WORKER_MODEL_ALIBI_H_

#include <torch/torch.h>

#include <vector>

namespace moe::worker {

// MPT's slopes for `n_heads`: with N = 2^ceil(log2 n_heads), slope_k = 2^(-k * bias_max / N)
// for k = 1..N; when N != n_heads the odd-indexed slopes come first, then the even ones, and
// the first n_heads are kept.
std::vector<double> AlibiSlopes(int64_t n_heads, double alibi_bias_max);

// The additive attention bias [1, H, T, T] for queries i and keys j: -slope_h * (i - j)
// (only j <= i is ever used), fp32 on the device of `slopes_H` (fp32 [H]: AlibiSlopes, kept
// there so no forward copies them from the host).
torch::Tensor AlibiBias(const torch::Tensor& slopes_H, int64_t seq_len);

}  // namespace moe::worker

#endif  // MOE_WORKER_MODEL_ALIBI_H_
