#include "worker/data/prompt_template.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace moe::worker {

absl::StatusOr<PromptTemplate> PromptTemplate::Parse(absl::string_view text) {
  constexpr absl::string_view kQ = "{question}", kA = "{answer}";
  const size_t q = text.find(kQ), a = text.find(kA);
  if (q == text.npos || a == text.npos || a < q || text.find(kQ, q + 1) != text.npos ||
      text.find(kA, a + 1) != text.npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prompt template '", text, "' must contain {question} once and then {answer} once"));
  }
  PromptTemplate t;
  t.before_question_ = std::string(text.substr(0, q));
  absl::string_view between = text.substr(q + kQ.size(), a - q - kQ.size());
  size_t lead = between.size();
  while (lead > 0 && absl::ascii_isspace(between[lead - 1])) --lead;
  t.between_ = std::string(between.substr(0, lead));
  t.answer_lead_ = std::string(between.substr(lead));
  t.after_answer_ = std::string(text.substr(a + kA.size()));
  return t;
}

std::string PromptTemplate::Prompt(absl::string_view question) const {
  return absl::StrCat(before_question_, question, between_);
}

std::string PromptTemplate::Answer(absl::string_view answer) const {
  return absl::StrCat(answer_lead_, answer, after_answer_);
}

}  // namespace moe::worker
