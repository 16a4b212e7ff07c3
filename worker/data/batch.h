// A micro-batch as the model consumes it, in plain arrays (the trainer makes tensors).
// Shapes are [rows, seq_len], row-major. Attention is allowed from token i to token j of a
// row iff j <= i and segment_ids[i] == segment_ids[j] != 0 (block-diagonal causal), so
// packed samples never see each other.
#ifndef MOE_WORKER_DATA_BATCH_H_
#define MOE_WORKER_DATA_BATCH_H_

#include <cstdint>
#include <vector>

#include "worker/data/dataset.h"

namespace moe::worker {

inline constexpr int32_t kIgnoreLabel = -100;

struct Batch {
  int32_t rows = 0;
  int32_t seq_len = 0;
  std::vector<int32_t> input_ids;  // token ids; padding holds the EOS id
  std::vector<int32_t> labels;     // the next token where it is an answer token, else kIgnoreLabel
  std::vector<int32_t> segment_ids;  // 1, 2, ... per sample within a row; 0 for padding
  std::vector<int32_t> expert_ids;   // the sample's expert label; -1 for padding or none
  std::vector<uint32_t> samples;     // dataset indices, in row order
  int64_t tokens = 0;                // non-padding tokens
  int64_t loss_tokens = 0;           // labels that are not kIgnoreLabel

  // Sets the shape and fills every position with padding.
  void Reset(int32_t rows, int32_t seq_len, int32_t pad_id);
  // Writes `sample` (dataset index `index`) into `row` at column `column`, as segment
  // `segment`. The caller guarantees it fits.
  void Place(int32_t row, int32_t column, int32_t segment, uint32_t index,
             const SampleView& sample);
};

}  // namespace moe::worker

#endif  // MOE_WORKER_DATA_BATCH_H_
