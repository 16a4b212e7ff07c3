// The safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header
// {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then the
// raw little-endian data. Reading maps the file and checks the whole header (dtypes, shapes,
// offsets inside the file, sizes matching shapes, no overlaps) before any data is touched.
#ifndef MOE_WORKER_MODEL_SAFETENSORS_H_
#define MOE_WORKER_MODEL_SAFETENSORS_H_

#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/hashing_writer.h"

namespace moe::worker {

class SafetensorsFile {
 public:
  struct Entry {
    torch::ScalarType dtype;
    std::vector<int64_t> shape;
    size_t begin, end;  // byte offsets into the data section
  };

  // Maps and validates `path`. NotFound if it cannot be opened; InvalidArgument naming the
  // file (and tensor) for a truncated file, a corrupt header, an unknown dtype, offsets out of
  // range, a size that does not match the shape, or overlapping tensors.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::filesystem::path& path);
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::map<std::string, Entry>& entries() const { return entries_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Tensor `name` as a CPU view of the mapped file: no copy, for reading only (the mapping is
  // read-only), and it keeps the mapping alive after this object is gone. Loading a model
  // copies from these views straight into parameters on their device. NotFound if absent.
  absl::StatusOr<torch::Tensor> Load(const std::string& name) const;

 private:
  SafetensorsFile() = default;
  std::filesystem::path path_;
  std::shared_ptr<void> mapping_;  // the whole file, read-only
  void* map_ = nullptr;            // mapping_.get()
  size_t size_ = 0;
  const char* data_ = nullptr;  // start of the data section, inside the mapping
  std::map<std::string, Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

// Writes `tensors` (any device; written in their dtype) to `path`, with `metadata`, and fsyncs
// it; returns its size and SHA-256, hashed as it was written (common/hashing_writer.h).
// Tensors are stored in name order. Device tensors are copied to the host 64 MB at a time, so
// writing never holds a host copy of them all. An error names the path (disk full marked).
// `cancel` (may be null): once set, the write stops with Cancelled (HashingWriter).
absl::StatusOr<common::FileDigest> WriteSafetensors(
    const std::filesystem::path& path,
    const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
    const std::map<std::string, std::string>& metadata = {},
    const std::atomic<bool>* cancel = nullptr);

}  // namespace moe::worker

#endif  // MOE_WORKER_MODEL_SAFETENSORS_H_
