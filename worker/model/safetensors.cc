#include "worker/model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/disk_full.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace moe::worker {
namespace {

using Json = nlohmann::json;

constexpr size_t kMaxHeader = 100 << 20;  // the reference implementation's limit

const std::vector<std::pair<std::string, torch::ScalarType>>& DtypeNames() {
  static const auto* const kNames = new std::vector<std::pair<std::string, torch::ScalarType>>{
      {"F64", torch::kFloat64},   {"F32", torch::kFloat32}, {"F16", torch::kFloat16},
      {"BF16", torch::kBFloat16}, {"I64", torch::kInt64},   {"I32", torch::kInt32},
      {"I16", torch::kInt16},     {"I8", torch::kInt8},     {"U8", torch::kUInt8},
      {"BOOL", torch::kBool}};
  return *kNames;
}

absl::StatusOr<SafetensorsFile::Entry> ParseEntry(const Json& j, size_t data_size) {
  if (!j.is_object()) return absl::InvalidArgumentError("entry is not an object");
  SafetensorsFile::Entry e;
  const std::string dtype =
      j.contains("dtype") && j["dtype"].is_string() ? j["dtype"].get<std::string>() : "";
  const auto& names = DtypeNames();
  const auto it =
      std::find_if(names.begin(), names.end(), [&](const auto& p) { return p.first == dtype; });
  if (it == names.end())
    return absl::InvalidArgumentError(absl::StrCat("unsupported dtype '", dtype, "'"));
  e.dtype = it->second;
  const Json shape = j.value("shape", Json());
  const Json offsets = j.value("data_offsets", Json());
  if (!shape.is_array() || !offsets.is_array() || offsets.size() != 2) {
    return absl::InvalidArgumentError("needs \"shape\" and two \"data_offsets\"");
  }
  uint64_t numel = 1;
  for (const Json& d : shape) {
    if (!d.is_number_unsigned()) {
      return absl::InvalidArgumentError("shape must hold non-negative integers");
    }
    const uint64_t dim = d.get<uint64_t>();
    if (dim > static_cast<uint64_t>(INT64_MAX) || __builtin_mul_overflow(numel, dim, &numel)) {
      return absl::InvalidArgumentError("shape is too large");
    }
    e.shape.push_back(static_cast<int64_t>(dim));
  }
  if (!offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned()) {
    return absl::InvalidArgumentError("data_offsets must be non-negative integers");
  }
  e.begin = offsets[0].get<size_t>();
  e.end = offsets[1].get<size_t>();
  if (e.begin > e.end || e.end > data_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data_offsets [", e.begin, ", ", e.end, "] fall outside the ", data_size, " data bytes"));
  }
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(numel, c10::elementSize(e.dtype), &bytes) ||
      e.end - e.begin != bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("holds ", e.end - e.begin, " bytes; its shape needs ", numel, " elements of ",
                     c10::elementSize(e.dtype), " bytes"));
  }
  return e;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(
    const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return absl::NotFoundError(
        absl::StrCat(path.string(), ": cannot open: ", std::strerror(errno)));
  struct stat st;
  ::fstat(fd, &st);
  auto file = std::unique_ptr<SafetensorsFile>(new SafetensorsFile());
  file->path_ = path;
  file->size_ = static_cast<size_t>(st.st_size);
  const auto bad = [&](const std::string& what) {
    return absl::InvalidArgumentError(
        absl::StrCat(path.string(), ": not a valid safetensors file: ", what));
  };
  if (file->size_ < 8) {
    ::close(fd);
    return bad("shorter than its 8-byte header length");
  }
  void* map = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) {
    return absl::InternalError(
        absl::StrCat(path.string(), ": mmap failed: ", std::strerror(errno)));
  }
  // Unmapped when the file and every tensor viewing it are gone.
  file->mapping_ = std::shared_ptr<void>(map, [size = file->size_](void* m) { ::munmap(m, size); });
  file->map_ = map;
  const auto* bytes = static_cast<const unsigned char*>(file->map_);
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | bytes[i];
  if (header_size > kMaxHeader || 8 + header_size > file->size_) {
    return bad(absl::StrCat("header length ", header_size, " does not fit the file (", file->size_,
                            " bytes)"));
  }
  const char* header = reinterpret_cast<const char*>(bytes + 8);
  const Json json = Json::parse(header, header + header_size, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return bad("the header is not a JSON object");
  file->data_ = header + header_size;
  const size_t data_size = file->size_ - 8 - header_size;
  std::vector<std::pair<size_t, size_t>> ranges;
  for (const auto& [name, value] : json.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) return bad("__metadata__ is not an object");
      for (const auto& [k, v] : value.items()) {
        if (!v.is_string()) return bad(absl::StrCat("__metadata__.", k, " is not a string"));
        file->metadata_[k] = v.get<std::string>();
      }
      continue;
    }
    absl::StatusOr<Entry> entry = ParseEntry(value, data_size);
    if (!entry.ok()) return bad(absl::StrCat("tensor '", name, "': ", entry.status().message()));
    if (entry->end > entry->begin) ranges.emplace_back(entry->begin, entry->end);
    file->entries_.emplace(name, *std::move(entry));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].first < ranges[i - 1].second) return bad("tensors overlap");
  }
  return file;
}

absl::StatusOr<torch::Tensor> SafetensorsFile::Load(const std::string& name) const {
  const auto it = entries_.find(name);
  if (it == entries_.end()) {
    return absl::NotFoundError(absl::StrCat(path_.string(), ": no tensor '", name, "'"));
  }
  const Entry& e = it->second;
  try {
    // The mapping is read-only (PROT_READ): the view is for reading and copying from.
    return torch::from_blob(
        const_cast<char*>(data_ + e.begin), e.shape, [mapping = mapping_](void*) {},
        torch::TensorOptions().dtype(e.dtype));
  } catch (const c10::Error& error) {
    return absl::ResourceExhaustedError(
        absl::StrCat(path_.string(), ": tensor '", name, "': ", error.what_without_backtrace()));
  }
}

absl::StatusOr<common::FileDigest> WriteSafetensors(
    const std::filesystem::path& path,
    const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
    const std::map<std::string, std::string>& metadata, const std::atomic<bool>* cancel) {
  std::vector<std::pair<std::string, torch::Tensor>> sorted;
  for (const auto& [name, t] : tensors) sorted.emplace_back(name, t.detach());
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  Json header = Json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  size_t offset = 0;
  for (const auto& [name, t] : sorted) {
    const auto& names = DtypeNames();
    const torch::ScalarType dtype = t.scalar_type();  // (a lambda cannot capture a binding)
    const auto it = std::find_if(names.begin(), names.end(),
                                 [dtype](const auto& p) { return p.second == dtype; });
    if (it == names.end())
      return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': dtype not supported"));
    const size_t bytes = t.numel() * t.element_size();
    header[name] = {{"dtype", it->first},
                    {"shape", t.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // align the data section to 8 bytes
  ASSIGN_OR_RETURN(std::unique_ptr<common::HashingWriter> out,
                   common::HashingWriter::Create(path, cancel));
  const uint64_t n = text.size();
  char length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  RETURN_IF_ERROR(out->Append(length, 8));
  RETURN_IF_ERROR(out->Append(text.data(), text.size()));
  // Device tensors (and non-contiguous ones) reach the file through a bounded host buffer.
  constexpr int64_t kChunkBytes = 64 << 20;
  torch::Tensor staging;
  for (const auto& [name, t] : sorted) {
    if (t.device().is_cpu() && t.is_contiguous()) {
      RETURN_IF_ERROR(out->Append(t.data_ptr(), t.numel() * t.element_size()));
      continue;
    }
    const torch::Tensor flat = t.reshape(-1);
    const int64_t step = std::max<int64_t>(kChunkBytes / t.element_size(), 1);
    for (int64_t begin = 0; begin < flat.numel(); begin += step) {
      const int64_t count = std::min(step, flat.numel() - begin);
      if (!staging.defined() || staging.scalar_type() != t.scalar_type() ||
          staging.numel() < count) {
        staging = torch::empty({std::min(step, flat.numel())},  // host
                               torch::dtype(t.scalar_type()).pinned_memory(t.is_cuda()));
      }
      torch::Tensor chunk = staging.narrow(0, 0, count);
      chunk.copy_(flat.narrow(0, begin, count));
      RETURN_IF_ERROR(out->Append(chunk.data_ptr(), count * t.element_size()));
    }
  }
  return out->Finish();
}

}  // namespace moe::worker
