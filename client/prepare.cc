#include "client/prepare.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "client/expert_labeler.h"
#include "nlohmann/json.hpp"
#include "worker/data/qa_record.h"

namespace moe::client {

absl::StatusOr<PrepareResult> PrepareDataset(const std::filesystem::path& input,
                                             const std::filesystem::path& output, bool relabel) {
  std::ifstream in(input, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(input.string(), ": cannot read"));
  const std::filesystem::path tmp = output.string() + ".tmp";
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  if (!out) return absl::FailedPreconditionError(absl::StrCat(tmp.string(), ": cannot write"));
  const ExpertLabeler labeler;
  PrepareResult result;
  for (const std::string& label : kExpertLabels) result.labels[label] = 0;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    const auto record = worker::ParseQaRecord(line);
    if (!record.ok()) {
      std::filesystem::remove(tmp);
      return absl::InvalidArgumentError(
          absl::StrCat(input.string(), ":", number, ": ", record.status().message()));
    }
    nlohmann::json json = nlohmann::json::parse(line);  // valid: ParseQaRecord accepted it
    std::string label = record->expert_label;
    if (relabel || !result.labels.count(label)) {
      label = labeler.Label(record->question, record->answer);
    } else {
      ++result.kept;
    }
    json["expert_label"] = label;
    out << json.dump() << '\n';
    ++result.labels[label];
    ++result.records;
  }
  out.close();
  if (!out) {
    std::filesystem::remove(tmp);
    return absl::InternalError(absl::StrCat(tmp.string(), ": write failed"));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, output, ec);
  if (ec) return absl::InternalError(absl::StrCat(output.string(), ": ", ec.message()));
  return result;
}

std::string Histogram(const PrepareResult& result) {
  std::string out = absl::StrCat(
      result.records, " records",
      result.kept > 0 ? absl::StrCat(" (", result.kept, " kept their label)") : "", "\n");
  for (const std::string& label : kExpertLabels) {
    const int64_t n = result.labels.at(label);
    absl::StrAppendFormat(&out, "  %-22s %7d  %5.1f%%\n", label, n,
                          result.records > 0 ? 100.0 * n / result.records : 0.0);
  }
  return out;
}

}  // namespace moe::client
