// `moectl prepare`: a Natural-Questions-style JSONL file (one {"question", "answer"} object per
// line; the answer in any form the data pipeline accepts: a string, a list of strings or
// {"text": ...}) in, the same records with "expert_label" out, labelled by ExpertLabeler.
#ifndef MOE_CLIENT_PREPARE_H_
#define MOE_CLIENT_PREPARE_H_

#include <filesystem>
#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace moe::client {

struct PrepareResult {
  std::map<std::string, int64_t> labels;  // records per expert label
  int64_t records = 0;
  int64_t kept = 0;  // records that had a valid label already (kept unless relabel)
};

// Writes `output` (whole, via a temporary file and a rename, so a failure leaves no partial
// file). Blank lines are skipped; a malformed record is InvalidArgument naming FILE:LINE.
absl::StatusOr<PrepareResult> PrepareDataset(const std::filesystem::path& input,
                                             const std::filesystem::path& output, bool relabel);

// The label histogram as printed by moectl: one line per expert, count and share.
std::string Histogram(const PrepareResult& result);

}  // namespace moe::client

#endif  // MOE_CLIENT_PREPARE_H_
