#include "worker/data/qa_file.h"

#include <algorithm>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"

namespace moe::worker {
namespace {

// The index of `label` in `experts`; -1 when the job has no experts (labels are unused).
absl::StatusOr<int32_t> ExpertIndex(const std::string& label,
                                    const std::vector<std::string>& experts) {
  if (experts.empty()) return -1;
  const auto it = std::find(experts.begin(), experts.end(), label);
  if (it != experts.end()) return static_cast<int32_t>(it - experts.begin());
  if (label.empty()) return absl::InvalidArgumentError("\"expert_label\" is missing");
  return absl::InvalidArgumentError(absl::StrCat("expert_label '", label, "' is not one of ",
                                                 absl::StrJoin(experts, ", "),
                                                 " (model.moe.experts)"));
}

}  // namespace

bool IsHeldOut(int64_t line_number, double eval_fraction) {
  if (eval_fraction <= 0) return false;
  uint64_t z = static_cast<uint64_t>(line_number) * 0x9E3779B97F4A7C15ull;  // SplitMix64's mix
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) / static_cast<double>(1ull << 53) < eval_fraction;
}

absl::StatusOr<QaFile> ReadQaFile(const moe::v1::DataSpec& spec, DataSplit split,
                                  const std::vector<std::string>& experts) {
  const std::string& path = spec.train_file();
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot read data file"));
  const uint64_t limit = split == DataSplit::kTrain ? spec.max_samples() : spec.eval_max_samples();
  QaFile file;
  std::string line;
  int64_t line_number = 0;
  while (std::getline(in, line) && (limit == 0 || file.records.size() < limit)) {
    ++line_number;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    if (IsHeldOut(line_number, spec.eval_fraction()) != (split == DataSplit::kEval)) continue;
    ++file.lines;
    absl::StatusOr<QaRecord> record = ParseQaRecord(line);
    absl::StatusOr<int32_t> expert =
        record.ok() ? ExpertIndex(record->expert_label, experts) : record.status();
    if (!expert.ok()) {
      const std::string where =
          absl::StrCat(path, ":", line_number, ": ", expert.status().message());
      if (!spec.skip_invalid()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, " (set data.skip_invalid to skip such lines)"));
      }
      if (file.skipped++ < 5) spdlog::warn("skipping {}", where);
      continue;
    }
    file.records.push_back(*std::move(record));
    file.experts.push_back(*expert);
  }
  if (file.records.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": no valid samples", split == DataSplit::kEval ? " in the held-out split" : ""));
  }
  return file;
}

}  // namespace moe::worker
