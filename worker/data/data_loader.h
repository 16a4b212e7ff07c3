// Batches for one rank. The data position is one integer per epoch: how many samples of the
// epoch's global order all ranks together have consumed. Rows are cut from the global order
// at that position by a deterministic greedy packer (each row takes the next samples while
// they fit in max_seq_len; one sample per row when packing is off), so the rows from any
// position depend on the position alone: Seek is O(1) (no batch is read to be skipped), and
// a job resumes at the same position on any world size.
//
// Each global micro-step cuts world_size * micro_batch_size rows; rank r takes rows
// [r * micro_batch_size, (r + 1) * micro_batch_size). Near the end of the epoch a rank may
// get rows of padding only, so all ranks run the same number of micro-steps.
#ifndef MOE_WORKER_DATA_DATA_LOADER_H_
#define MOE_WORKER_DATA_DATA_LOADER_H_

#include <cstdint>
#include <vector>

#include "worker/data/batch.h"
#include "worker/data/dataset.h"

namespace moe::worker {

struct LoaderOptions {
  int32_t micro_batch_size = 4;
  int32_t max_seq_len = 256;
  bool packing = true;
  uint64_t seed = 42;
  int32_t world_size = 1;
  int32_t rank = 0;
};

class DataLoader {
 public:
  // `dataset` must outlive the loader. Starts at epoch 0, position 0.
  DataLoader(const Dataset& dataset, LoaderOptions options);

  // Moves to `position` (<= dataset size) of `epoch`. O(1) within an epoch; O(n) to compute a
  // new epoch's order.
  void Seek(uint64_t epoch, uint64_t position);

  // Fills `batch` with this rank's rows of the next global micro-step and advances the
  // position past the whole step. Returns false, leaving `batch` alone, at the epoch's end.
  bool Next(Batch* batch);

  uint64_t epoch() const { return epoch_; }
  uint64_t position() const { return position_; }
  // Global micro-steps in `epoch` (each epoch's order packs differently). Plans every row of
  // that epoch: O(samples), no batch is built.
  int64_t StepsInEpoch(uint64_t epoch) const;

 private:
  // Number of samples the row starting at `position` of `order` takes (0 at its end).
  uint32_t RowLength(const std::vector<uint32_t>& order, uint64_t position) const;

  const Dataset& dataset_;
  const LoaderOptions options_;
  uint64_t epoch_ = 0;
  uint64_t position_ = 0;
  std::vector<uint32_t> order_;  // the epoch's global sample order
};

}  // namespace moe::worker

#endif  // MOE_WORKER_DATA_DATA_LOADER_H_
