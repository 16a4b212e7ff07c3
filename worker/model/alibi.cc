#include "worker/model/alibi.h"

#include <cmath>

namespace moe::worker {

std::vector<double> AlibiSlopes(int64_t n_heads, double alibi_bias_max) {
  const int64_t n = int64_t{1} << static_cast<int64_t>(std::ceil(std::log2(n_heads)));
  std::vector<double> all;
  for (int64_t k = 1; k <= n; ++k) all.push_back(std::pow(2.0, -k * alibi_bias_max / n));
  if (n == n_heads) return all;
  std::vector<double> slopes;
  for (int64_t i = 1; i < n; i += 2) slopes.push_back(all[i]);
  for (int64_t i = 0; i < n; i += 2) slopes.push_back(all[i]);
  slopes.resize(n_heads);
  return slopes;
}

torch::Tensor AlibiBias(const torch::Tensor& slopes_H, int64_t seq_len) {
  torch::Tensor pos = torch::arange(seq_len, slopes_H.options());
  torch::Tensor distance_TT = pos.unsqueeze(1) - pos.unsqueeze(0);  // i - j
  return -slopes_H.view({1, -1, 1, 1}) * distance_TT.view({1, 1, seq_len, seq_len});
}

}  // namespace moe::worker
