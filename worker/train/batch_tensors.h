// Turning the data pipeline's plain-array batches into the model's tensors, on its device.
#ifndef MOE_WORKER_TRAIN_BATCH_TENSORS_H_
#define MOE_WORKER_TRAIN_BATCH_TENSORS_H_

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "worker/data/batch.h"
#include "worker/model/mpt_model.h"

namespace moe::worker {

// A row-major int32 array as an int64 tensor [rows, seq_len] on `device`. For a GPU the rows
// are written into pinned host memory and copied without blocking the host (the copy is
// ordered on the current stream before whatever uses the tensor).
torch::Tensor RowsTensor(const std::vector<int32_t>& values, int32_t rows, int32_t seq_len,
                         torch::Device device = torch::kCPU);

// input_ids, segment_ids and expert_ids of `batch`, on `device`.
ModelInputs ToModelInputs(const Batch& batch, torch::Device device = torch::kCPU);

// The labels of `batch` [rows, seq_len] (kIgnoreLabel where no loss applies), on `device`.
torch::Tensor LabelsOf(const Batch& batch, torch::Device device = torch::kCPU);

}  // namespace moe::worker

#endif  // MOE_WORKER_TRAIN_BATCH_TENSORS_H_
