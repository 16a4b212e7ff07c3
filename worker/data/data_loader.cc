#include "worker/data/data_loader.h"

#include "common/check.h"
#include "worker/data/sampler.h"

namespace moe::worker {

DataLoader::DataLoader(const Dataset& dataset, LoaderOptions options)
    : dataset_(dataset), options_(options) {
  MOE_CHECK(options_.world_size > 0);
  MOE_CHECK(options_.rank >= 0 && options_.rank < options_.world_size);
  order_ = EpochOrder(static_cast<uint32_t>(dataset_.size()), options_.seed, 0);
}

void DataLoader::Seek(uint64_t epoch, uint64_t position) {
  MOE_CHECK(position <= dataset_.size());
  if (epoch != epoch_)
    order_ = EpochOrder(static_cast<uint32_t>(dataset_.size()), options_.seed, epoch);
  epoch_ = epoch;
  position_ = position;
}

uint32_t DataLoader::RowLength(const std::vector<uint32_t>& order, uint64_t position) const {
  uint32_t count = 0;
  int64_t used = 0;
  while (position + count < order.size()) {
    const int32_t length = dataset_.length(order[position + count]);
    MOE_CHECK(length <= options_.max_seq_len, "sample {} is longer than max_seq_len",
              position + count);
    if (used + length > options_.max_seq_len) break;
    used += length;
    ++count;
    if (!options_.packing) break;
  }
  return count;
}

bool DataLoader::Next(Batch* batch) {
  if (position_ >= order_.size()) return false;
  batch->Reset(options_.micro_batch_size, options_.max_seq_len, dataset_.eos_id());
  const int32_t first_row = options_.rank * options_.micro_batch_size;
  const int32_t rows = options_.world_size * options_.micro_batch_size;
  for (int32_t row = 0; row < rows; ++row) {
    const uint32_t count = RowLength(order_, position_);
    const int32_t local = row - first_row;
    if (local >= 0 && local < options_.micro_batch_size) {
      int32_t column = 0;
      for (uint32_t s = 0; s < count; ++s) {
        const uint32_t index = order_[position_ + s];
        batch->Place(local, column, static_cast<int32_t>(s) + 1, index, dataset_.sample(index));
        column += dataset_.length(index);
      }
    }
    position_ += count;
  }
  return true;
}

int64_t DataLoader::StepsInEpoch(uint64_t epoch) const {
  const std::vector<uint32_t> order =
      epoch == epoch_ ? order_
                      : EpochOrder(static_cast<uint32_t>(dataset_.size()), options_.seed, epoch);
  int64_t steps = 0;
  const int32_t rows = options_.world_size * options_.micro_batch_size;
  for (uint64_t p = 0; p < order.size(); ++steps) {
    for (int32_t row = 0; row < rows; ++row) p += RowLength(order, p);
  }
  return steps;
}

}  // namespace moe::worker
