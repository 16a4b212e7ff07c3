#include "common/utf8.h"

#include "utf8proc.h"

namespace moe::common {

bool IsValidUtf8(absl::string_view text) {
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(text.size());
  while (left > 0) {
    if (*p < 0x80) {
      ++p;
      --left;
      continue;
    }
    utf8proc_int32_t cp;
    const utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
    if (n <= 0) return false;
    p += n;
    left -= n;
  }
  return true;
}

namespace {

// Length of the maximal prefix of an ill-formed sequence at `p` that could start a valid
// character (at least 1), so that it becomes a single U+FFFD as WHATWG and Rust's
// from_utf8_lossy do.
size_t MaximalSubpart(const utf8proc_uint8_t* p, size_t left) {
  const uint8_t lead = p[0];
  const size_t want = lead >= 0xC2 && lead <= 0xDF   ? 2
                      : lead >= 0xE0 && lead <= 0xEF ? 3
                      : lead >= 0xF0 && lead <= 0xF4 ? 4
                                                     : 1;
  size_t n = 1;
  while (n < want && n < left) {
    uint8_t lo = 0x80, hi = 0xBF;
    if (n == 1) {  // the second byte's range depends on the lead
      if (lead == 0xE0) lo = 0xA0;
      if (lead == 0xED) hi = 0x9F;
      if (lead == 0xF0) lo = 0x90;
      if (lead == 0xF4) hi = 0x8F;
    }
    if (p[n] < lo || p[n] > hi) break;
    ++n;
  }
  return n;
}

}  // namespace

void RepairUtf8(absl::string_view text, std::string* out) {
  out->clear();
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(text.size());
  while (left > 0) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
    if (n <= 0) {
      out->append("\xEF\xBF\xBD");  // U+FFFD
      n = static_cast<utf8proc_ssize_t>(MaximalSubpart(p, left));
    } else {
      out->append(reinterpret_cast<const char*>(p), n);
    }
    p += n;
    left -= n;
  }
}

}  // namespace moe::common
