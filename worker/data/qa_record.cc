#include "worker/data/qa_record.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace moe::worker {
namespace {

using Json = nlohmann::json;

// The acceptable answers of an "answer" value: one for a string or {"text": ...}, each item
// of a list.
absl::StatusOr<std::vector<std::string>> Answers(const Json& answer) {
  if (answer.is_string()) return std::vector<std::string>{answer.get<std::string>()};
  if (answer.is_object() && answer.contains("text") && answer["text"].is_string()) {
    return std::vector<std::string>{answer["text"].get<std::string>()};
  }
  if (answer.is_array()) {
    std::vector<std::string> answers;
    for (const Json& part : answer) {
      if (!part.is_string()) return absl::InvalidArgumentError("answer list must hold strings");
      answers.push_back(part.get<std::string>());
    }
    return answers;
  }
  return absl::InvalidArgumentError(
      "answer must be a string, a list of strings or an object with a \"text\" string");
}

}  // namespace

absl::StatusOr<QaRecord> ParseQaRecord(absl::string_view line) {
  const Json json = Json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return absl::InvalidArgumentError("not valid JSON (or not UTF-8)");
  if (!json.is_object()) return absl::InvalidArgumentError("expected a JSON object");
  QaRecord record;
  if (!json.contains("question") || !json["question"].is_string()) {
    return absl::InvalidArgumentError("\"question\" must be a string");
  }
  record.question = json["question"].get<std::string>();
  if (!json.contains("answer")) return absl::InvalidArgumentError("\"answer\" is missing");
  absl::StatusOr<std::vector<std::string>> answers = Answers(json["answer"]);
  if (!answers.ok()) return answers.status();
  record.answers = *std::move(answers);
  record.answer = absl::StrJoin(record.answers, ", ");
  if (record.question.empty()) return absl::InvalidArgumentError("\"question\" is empty");
  if (record.answer.empty()) return absl::InvalidArgumentError("\"answer\" is empty");
  if (json.contains("expert_label")) {
    if (!json["expert_label"].is_string()) {
      return absl::InvalidArgumentError("\"expert_label\" must be a string");
    }
    record.expert_label = json["expert_label"].get<std::string>();
  }
  return record;
}

}  // namespace moe::worker
