// GPT-2's byte-level alphabet: every byte maps to one printable Unicode character, so any
// byte string becomes a string of "visible" characters a BPE vocabulary can hold.
#ifndef MOE_WORKER_DATA_BYTE_LEVEL_H_
#define MOE_WORKER_DATA_BYTE_LEVEL_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace moe::worker {

class ByteLevel {
 public:
  // The process-wide tables (built once, thread-safe).
  static const ByteLevel& Get();

  // Appends the UTF-8 of the character standing for each byte of `bytes` to `out`.
  void Encode(absl::string_view bytes, std::string* out) const;

  // Maps a byte-level token back to bytes. Returns false (leaving `out` partly written) if
  // `token` holds a character outside the alphabet.
  bool Decode(absl::string_view token, std::string* out) const;

  // The character (as a code point) standing for `byte`.
  char32_t CodePoint(uint8_t byte) const { return byte_to_cp_[byte]; }

 private:
  ByteLevel();
  std::array<char32_t, 256> byte_to_cp_;
  std::array<std::string, 256> byte_to_utf8_;
  std::array<int16_t, 512> cp_to_byte_;  // all alphabet code points are < 512; -1: none
};

}  // namespace moe::worker

#endif  // MOE_WORKER_DATA_BYTE_LEVEL_H_
