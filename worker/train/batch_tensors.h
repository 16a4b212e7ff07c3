// Turning the data pipeline's plain-array batches into the model's tensors.
#ifndef MOE_WORKER_TRAIN_BATCH_TENSORS_H_
#define MOE_WORKER_TRAIN_BATCH_TENSORS_H_

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "worker/data/batch.h"
#include "worker/model/mpt_model.h"

namespace moe::worker {

// A row-major int32 array as an int64 tensor [rows, seq_len].
torch::Tensor RowsTensor(const std::vector<int32_t>& values, int32_t rows, int32_t seq_len);

// input_ids, segment_ids and expert_ids of `batch`.
ModelInputs ToModelInputs(const Batch& batch);

// The labels of `batch` [rows, seq_len] (kIgnoreLabel where no loss applies).
torch::Tensor LabelsOf(const Batch& batch);

}  // namespace moe::worker

#endif  // MOE_WORKER_TRAIN_BATCH_TENSORS_H_
