#include "worker/train/batch_tensors.h"

namespace moe::worker {

torch::Tensor RowsTensor(const std::vector<int32_t>& values, int32_t rows, int32_t seq_len) {
  return torch::tensor(values, torch::kInt32).view({rows, seq_len}).to(torch::kInt64);
}

ModelInputs ToModelInputs(const Batch& b) {
  return {RowsTensor(b.input_ids, b.rows, b.seq_len), RowsTensor(b.segment_ids, b.rows, b.seq_len),
          RowsTensor(b.expert_ids, b.rows, b.seq_len)};
}

torch::Tensor LabelsOf(const Batch& b) { return RowsTensor(b.labels, b.rows, b.seq_len); }

}  // namespace moe::worker
