#include "worker/train/batch_tensors.h"

#include <algorithm>

#include "common/check.h"

namespace moe::worker {

torch::Tensor RowsTensor(const std::vector<int32_t>& values, int32_t rows, int32_t seq_len,
                         torch::Device device) {
  MOE_CHECK(values.size() == static_cast<size_t>(rows) * seq_len, "{} values for {} x {} rows",
            values.size(), rows, seq_len);
  torch::Tensor host =
      torch::empty({rows, seq_len}, torch::dtype(torch::kInt64).pinned_memory(device.is_cuda()));
  std::copy(values.begin(), values.end(), host.data_ptr<int64_t>());
  return device.is_cpu() ? host : host.to(device, /*non_blocking=*/true);
}

ModelInputs ToModelInputs(const Batch& b, torch::Device device) {
  return {RowsTensor(b.input_ids, b.rows, b.seq_len, device),
          RowsTensor(b.segment_ids, b.rows, b.seq_len, device),
          RowsTensor(b.expert_ids, b.rows, b.seq_len, device)};
}

torch::Tensor LabelsOf(const Batch& b, torch::Device device) {
  return RowsTensor(b.labels, b.rows, b.seq_len, device);
}

}  // namespace moe::worker
