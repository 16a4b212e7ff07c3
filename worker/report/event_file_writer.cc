#include "worker/report/event_file_writer.h"

#include <unistd.h>

#include <boost/crc.hpp>

#include "absl/strings/str_cat.h"
#include "tensorboard/event.pb.h"

namespace moe::worker {
namespace {

constexpr uint32_t kMaskDelta = 0xa282ead8u;

// Appends the low `bytes` bytes of `value`, least significant first.
void AppendLittleEndian(uint64_t value, int bytes, std::string* out) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

std::string Serialize(const moe::tensorboard::Event& event) {
  std::string bytes;
  event.SerializeToString(&bytes);
  return bytes;
}

}  // namespace

uint32_t Crc32c(absl::string_view data) {
  // Castagnoli polynomial, reflected, initial and final XOR all ones (RFC 3720).
  boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> crc;
  crc.process_bytes(data.data(), data.size());
  return crc.checksum();
}

uint32_t MaskedCrc32c(absl::string_view data) {
  const uint32_t crc = Crc32c(data);
  return ((crc >> 15) | (crc << 17)) + kMaskDelta;
}

void AppendTfRecord(absl::string_view record, std::string* out) {
  std::string length;
  AppendLittleEndian(record.size(), 8, &length);
  out->append(length);
  AppendLittleEndian(MaskedCrc32c(length), 4, out);
  out->append(record.data(), record.size());
  AppendLittleEndian(MaskedCrc32c(record), 4, out);
}

absl::StatusOr<std::unique_ptr<EventFileWriter>> EventFileWriter::Create(
    const std::filesystem::path& dir, double wall_time) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat(dir.string(), ": ", ec.message()));
  char host[256] = "localhost";
  gethostname(host, sizeof(host) - 1);
  const std::filesystem::path path =
      dir / absl::StrCat("events.out.tfevents.", static_cast<int64_t>(wall_time), ".", host, ".",
                         getpid());
  std::ofstream out(path, std::ios::binary | std::ios::app);
  if (!out) return absl::InternalError(absl::StrCat(path.string(), ": cannot create"));
  std::unique_ptr<EventFileWriter> writer(new EventFileWriter(path, std::move(out)));
  moe::tensorboard::Event version;
  version.set_wall_time(wall_time);
  version.set_file_version("brain.Event:2");
  absl::Status status = writer->Write(Serialize(version));
  if (!status.ok()) return status;
  return writer;
}

absl::Status EventFileWriter::WriteScalar(absl::string_view tag, int64_t step, float value,
                                          double wall_time) {
  moe::tensorboard::Event event;
  event.set_wall_time(wall_time);
  event.set_step(step);
  moe::tensorboard::Summary::Value* v = event.mutable_summary()->add_value();
  v->set_tag(std::string(tag));
  v->set_simple_value(value);
  return Write(Serialize(event));
}

absl::Status EventFileWriter::Write(const std::string& event) {
  std::string record;
  AppendTfRecord(event, &record);
  out_.write(record.data(), static_cast<std::streamsize>(record.size()));
  out_.flush();
  return out_ ? absl::OkStatus()
              : absl::InternalError(absl::StrCat(path_.string(), ": write failed"));
}

}  // namespace moe::worker
