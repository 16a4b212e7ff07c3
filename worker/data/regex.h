// A compiled PCRE2 pattern with Unicode semantics (UTF + UCP, so \s, \p{L}, \p{N} follow
// Unicode), JIT-compiled when the platform allows. Immutable and thread-safe after Create.
#ifndef MOE_WORKER_DATA_REGEX_H_
#define MOE_WORKER_DATA_REGEX_H_

#define PCRE2_CODE_UNIT_WIDTH 8
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "pcre2.h"

namespace moe::worker {

class Regex {
 public:
  // Compiles `pattern`; `literal` matches it as plain text. InvalidArgument names the pattern
  // and PCRE2's reason.
  static absl::StatusOr<std::unique_ptr<Regex>> Create(absl::string_view pattern,
                                                       bool literal = false);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Appends the [begin, end) byte ranges of successive non-overlapping, non-empty matches in
  // `text` (valid UTF-8) to `spans`.
  void FindAll(absl::string_view text, std::vector<std::pair<size_t, size_t>>* spans) const;

 private:
  explicit Regex(pcre2_code* code) : code_(code) {}
  pcre2_code* code_;  // owned
};

}  // namespace moe::worker

#endif  // MOE_WORKER_DATA_REGEX_H_
