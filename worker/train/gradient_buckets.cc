#include "worker/train/gradient_buckets.h"

#include <algorithm>

#include "common/check.h"
#include "common/memory_plan.h"

namespace moe::worker {

GradientBuckets::GradientBuckets(FlatParameters& flat, Communicator& comm, int64_t begin,
                                 int64_t end, int64_t bucket_elements, bool overlap,
                                 int max_in_flight, bool offload)
    : flat_(flat),
      comm_(comm),
      begin_(begin),
      end_(end),
      overlap_(overlap),
      max_in_flight_(static_cast<size_t>(std::max(max_in_flight, 1))) {
  const std::vector<ParameterRange>& ranges = flat.ranges();
  bucket_of_.resize(ranges.size());
  arrived_.assign(ranges.size(), false);
  for (size_t i = ranges.size(); i-- > 0;) {
    if (buckets_.empty() || buckets_.back().end - buckets_.back().begin >= bucket_elements) {
      buckets_.push_back({ranges[i].offset, ranges[i].offset, {}});
    }
    Bucket& b = buckets_.back();
    b.begin = ranges[i].offset;
    if (b.params.empty()) b.end = ranges[i].offset + ranges[i].numel;
    b.params.push_back(i);
    bucket_of_[i] = buckets_.size() - 1;
  }
  for (Bucket& b : buckets_) b.waiting = b.params.size();
  if (offload) {
    const bool gpu = flat.params().is_cuda();
    partition_grad_ = torch::zeros({end - begin}, torch::dtype(torch::kFloat32).pinned_memory(gpu));
    int64_t largest = 0;
    for (const Bucket& b : buckets_) largest = std::max(largest, b.end - b.begin);
    if (gpu) {
      staging_ = torch::empty({std::min(largest, end - begin)},
                              torch::dtype(torch::kFloat32).pinned_memory(true));  // host
    }
  } else {
    partition_grad_ = torch::zeros({end - begin}, Fp32());
  }
  for (size_t i = 0; i < ranges.size(); ++i) {
    hooks_.push_back(flat.tensors()[i].register_hook(
        [this, i](const torch::Tensor& grad) { OnGradient(i, grad); }));
  }
}

GradientBuckets::~GradientBuckets() {
  for (size_t i = 0; i < hooks_.size(); ++i) {
    flat_.tensors()[i].remove_hook(hooks_[i]);
  }
}

void GradientBuckets::ReleaseGrad(size_t param) { flat_.tensors()[param].mutable_grad().reset(); }

void GradientBuckets::OnGradient(size_t param, const torch::Tensor& grad) {
  torch::NoGradGuard no_grad;
  Bucket& b = buckets_[bucket_of_[param]];
  MOE_CHECK(bucket_of_[param] >= next_, "a gradient arrived for an already reduced bucket");
  if (!b.buffer.defined()) b.buffer = torch::zeros({b.end - b.begin}, Fp32());
  const ParameterRange& r = flat_.ranges()[param];
  b.buffer.narrow(0, r.offset - b.begin, r.numel).add_(grad.reshape(-1));
  // The previous parameter's gradient has been stored in its .grad by now (backward runs one
  // node at a time per device); it is in a bucket already, so free it.
  if (previous_ >= 0 && previous_ != static_cast<int64_t>(param)) ReleaseGrad(previous_);
  previous_ = static_cast<int64_t>(param);
  if (arrived_[param]) return;  // a second contribution to the same parameter
  arrived_[param] = true;
  if (--b.waiting == 0) LaunchReady();
}

void GradientBuckets::LaunchReady() {
  while (next_ < buckets_.size() && buckets_[next_].waiting == 0) Launch(next_++);
}

void GradientBuckets::Launch(size_t index) {
  // Bounded memory: the oldest reduction finishes before another starts past the limit.
  while (in_flight_.size() >= max_in_flight_) {
    Complete(in_flight_.front());
    in_flight_.erase(in_flight_.begin());
  }
  Bucket& b = buckets_[index];
  if (!b.buffer.defined()) b.buffer = torch::zeros({b.end - b.begin}, Fp32());
  const int64_t part = end_ - begin_;
  InFlight flight{index, {}};
  for (int64_t owner = b.begin / part; owner * part < b.end; ++owner) {
    const int64_t lo = std::max(b.begin, owner * part), hi = std::min(b.end, (owner + 1) * part);
    torch::Tensor share = b.buffer.narrow(0, lo - b.begin, hi - lo);
    flight.reductions.push_back(comm_.ReduceSumAsync(share, static_cast<int>(owner)));
  }
  in_flight_.push_back(std::move(flight));
  peak_in_flight_ = std::max(peak_in_flight_, in_flight_.size());
  if (!overlap_) {
    Complete(in_flight_.back());
    in_flight_.pop_back();
  }
}

void GradientBuckets::Complete(InFlight& in_flight) {
  for (auto& reduction : in_flight.reductions) reduction->Wait();
  Bucket& b = buckets_[in_flight.bucket];
  const int64_t lo = std::max(b.begin, begin_), hi = std::min(b.end, end_);
  if (lo < hi) {
    torch::Tensor share = b.buffer.narrow(0, lo - b.begin, hi - lo);
    if (staging_.defined()) {  // offloaded from a GPU: to the host, then added there
      share = staging_.narrow(0, 0, hi - lo).copy_(share);
    }
    partition_grad_.narrow(0, lo - begin_, hi - lo).add_(share);
  }
  b.buffer = torch::Tensor();
}

int64_t GradientBuckets::ElementsFor(double bucket_mb) { return common::BucketElements(bucket_mb); }

torch::TensorOptions GradientBuckets::Fp32() const {
  return flat_.params().options().dtype(torch::kFloat32);
}

int64_t GradientBuckets::BucketBytes() const {
  std::vector<int64_t> sizes;
  for (const Bucket& b : buckets_) sizes.push_back(b.end - b.begin);
  std::sort(sizes.rbegin(), sizes.rend());
  const size_t alive = std::min(sizes.size(), (overlap_ ? max_in_flight_ : 0) + 1);
  int64_t elements = 0;
  for (size_t i = 0; i < alive; ++i) elements += sizes[i];
  return elements * 4;
}

void GradientBuckets::FinishMicroBatch() {
  torch::NoGradGuard no_grad;
  while (next_ < buckets_.size()) Launch(next_++);
  for (InFlight& flight : in_flight_) Complete(flight);
  in_flight_.clear();
  for (size_t i = 0; i < arrived_.size(); ++i) {
    ReleaseGrad(i);
    arrived_[i] = false;
  }
  for (Bucket& b : buckets_) b.waiting = b.params.size();
  next_ = 0;
  previous_ = -1;
}

}  // namespace moe::worker
