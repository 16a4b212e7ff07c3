// TensorBoard event files: TFRecord framing of Event messages. Each record is
//   uint64 length (little-endian) | uint32 masked_crc32c(length bytes) | data |
//   uint32 masked_crc32c(data)
// with masked_crc32c(x) = rotate_right(crc32c(x), 15) + 0xa282ead8 (as TensorFlow writes it).
// A file starts with an Event holding file_version "brain.Event:2".
#ifndef MOE_WORKER_REPORT_EVENT_FILE_WRITER_H_
#define MOE_WORKER_REPORT_EVENT_FILE_WRITER_H_

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace moe::worker {

// CRC-32C (Castagnoli) of `data`, and TFRecord's masked form of it.
uint32_t Crc32c(absl::string_view data);
uint32_t MaskedCrc32c(absl::string_view data);

// Appends `record` to `out` in TFRecord framing.
void AppendTfRecord(absl::string_view record, std::string* out);

class EventFileWriter {
 public:
  // Creates `dir` if needed and a new file events.out.tfevents.<unix seconds>.<host>.<pid> in
  // it, starting with the file_version record. `wall_time` is the file's start.
  static absl::StatusOr<std::unique_ptr<EventFileWriter>> Create(const std::filesystem::path& dir,
                                                                 double wall_time);

  // One scalar summary event; written through at once (a reader sees it immediately).
  absl::Status WriteScalar(absl::string_view tag, int64_t step, float value, double wall_time);
  const std::filesystem::path& path() const { return path_; }

 private:
  EventFileWriter(std::filesystem::path path, std::ofstream out)
      : path_(std::move(path)), out_(std::move(out)) {}
  absl::Status Write(const std::string& event);

  const std::filesystem::path path_;
  std::ofstream out_;
};

}  // namespace moe::worker

#endif  // MOE_WORKER_REPORT_EVENT_FILE_WRITER_H_
