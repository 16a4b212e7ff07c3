#include "worker/data/batch.h"

namespace moe::worker {

void Batch::Reset(int32_t rows_in, int32_t seq_len_in, int32_t pad_id) {
  rows = rows_in;
  seq_len = seq_len_in;
  const size_t n = static_cast<size_t>(rows) * seq_len;
  input_ids.assign(n, pad_id);
  labels.assign(n, kIgnoreLabel);
  segment_ids.assign(n, 0);
  expert_ids.assign(n, -1);
  samples.clear();
  tokens = 0;
  loss_tokens = 0;
}

void Batch::Place(int32_t row, int32_t column, int32_t segment, uint32_t index,
                  const SampleView& sample) {
  const size_t base = static_cast<size_t>(row) * seq_len + column;
  const int32_t length = static_cast<int32_t>(sample.ids.size());
  for (int32_t t = 0; t < length; ++t) {
    input_ids[base + t] = sample.ids[t];
    segment_ids[base + t] = segment;
    expert_ids[base + t] = sample.expert;
    // Position t predicts token t + 1 when that token is part of the answer.
    if (t + 1 < length && t + 1 >= sample.loss_start) {
      labels[base + t] = sample.ids[t + 1];
      ++loss_tokens;
    }
  }
  samples.push_back(index);
  tokens += length;
}

}  // namespace moe::worker
