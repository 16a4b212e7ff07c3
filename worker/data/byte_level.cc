#include "worker/data/byte_level.h"

#include "utf8proc.h"

namespace moe::worker {

ByteLevel::ByteLevel() {
  // Printable Latin-1 bytes stand for themselves; the other 68 bytes take the code points
  // 256, 257, ... in byte order (GPT-2's bytes_to_unicode).
  cp_to_byte_.fill(-1);
  int next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    byte_to_cp_[b] = printable ? b : next++;
    cp_to_byte_[byte_to_cp_[b]] = static_cast<int16_t>(b);
    uint8_t buf[4];
    const auto n = utf8proc_encode_char(byte_to_cp_[b], buf);
    byte_to_utf8_[b].assign(reinterpret_cast<char*>(buf), n);
  }
}

const ByteLevel& ByteLevel::Get() {
  static const ByteLevel* const kTables = new ByteLevel();
  return *kTables;
}

void ByteLevel::Encode(absl::string_view bytes, std::string* out) const {
  for (unsigned char b : bytes) out->append(byte_to_utf8_[b]);
}

bool ByteLevel::Decode(absl::string_view token, std::string* out) const {
  const auto* p = reinterpret_cast<const uint8_t*>(token.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(token.size());
  while (left > 0) {
    utf8proc_int32_t cp;
    const utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
    if (n <= 0 || cp >= 512 || cp_to_byte_[cp] < 0) return false;
    out->push_back(static_cast<char>(cp_to_byte_[cp]));
    p += n;
    left -= n;
  }
  return true;
}

}  // namespace moe::worker
