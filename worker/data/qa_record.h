// One line of a question/answer JSONL data set.
#ifndef MOE_WORKER_DATA_QA_RECORD_H_
#define MOE_WORKER_DATA_QA_RECORD_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace moe::worker {

struct QaRecord {
  std::string question;
  std::string answer;  // a list answer is joined with ", "; {"text": ...} is unwrapped
  std::vector<std::string> answers;  // each acceptable answer (a list's items), for exact match
  std::string expert_label;          // empty if the line has none
};

// Parses one JSONL line {"question": str, "answer": str | [str, ...] | {"text": str},
// "expert_label": str}; other keys are ignored. InvalidArgument says what is wrong (the
// caller adds file and line).
absl::StatusOr<QaRecord> ParseQaRecord(absl::string_view line);

}  // namespace moe::worker

#endif  // MOE_WORKER_DATA_QA_RECORD_H_
