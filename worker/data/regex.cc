#include "worker/data/regex.h"

#include "absl/strings/str_cat.h"

namespace moe::worker {

namespace {

// PCRE2's \s (with UCP) also matches U+180E, which left Unicode's White_Space property in
// Unicode 6.3; the reference implementations follow the property. Rewrites \s and \S, in or
// out of classes, to the property itself.
std::string WhiteSpaceByProperty(absl::string_view pattern) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '\\' && i + 1 < pattern.size()) {
      const char next = pattern[++i];
      if (next == 's') {
        out += "\\p{White_Space}";
      } else if (next == 'S') {
        out += "\\P{White_Space}";
      } else {
        out += '\\';
        out += next;
      }
      continue;
    }
    out += pattern[i];
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Regex>> Regex::Create(absl::string_view pattern_in, bool literal) {
  const std::string pattern = literal ? std::string(pattern_in) : WhiteSpaceByProperty(pattern_in);
  int error = 0;
  PCRE2_SIZE offset = 0;
  // PCRE2 refuses UCP with LITERAL (a literal has no classes for it to change).
  const uint32_t options = PCRE2_UTF | PCRE2_NO_UTF_CHECK | (literal ? PCRE2_LITERAL : PCRE2_UCP);
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   options, &error, &offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof(message));
    return absl::InvalidArgumentError(absl::StrCat("regex '", pattern_in, "' at offset ", offset,
                                                   ": ", reinterpret_cast<char*>(message)));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter on failure
  return std::unique_ptr<Regex>(new Regex(code));
}

Regex::~Regex() { pcre2_code_free(code_); }

void Regex::FindAll(absl::string_view text, std::vector<std::pair<size_t, size_t>>* spans) const {
  // Match data is per call so that one Regex serves many threads.
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match(
      pcre2_match_data_create_from_pattern(code_, nullptr), &pcre2_match_data_free);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t start = 0;
  while (start < text.size()) {
    const int rc =
        pcre2_match(code_, subject, text.size(), start, PCRE2_NO_UTF_CHECK, match.get(), nullptr);
    if (rc < 0) break;  // no further match (errors cannot occur on valid UTF-8)
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match.get());
    if (ovector[1] == ovector[0]) {  // empty match: step over one character
      start = ovector[0] + 1;
      while (start < text.size() && (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80) ++start;
      continue;
    }
    spans->emplace_back(ovector[0], ovector[1]);
    start = ovector[1];
  }
}

}  // namespace moe::worker
