// The prompt template of data.prompt_template: "{question}" and "{answer}" placeholders. The
// answer part (what the loss covers) starts at the whitespace right before {answer}, so
// "Answer: {answer}" puts " Paris" in the answer and it tokenizes as in running text.
#ifndef MOE_WORKER_DATA_PROMPT_TEMPLATE_H_
#define MOE_WORKER_DATA_PROMPT_TEMPLATE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace moe::worker {

class PromptTemplate {
 public:
  // InvalidArgument unless `text` holds {question} once and then {answer} once.
  static absl::StatusOr<PromptTemplate> Parse(absl::string_view text);

  // The text before the answer (no loss), given the question.
  std::string Prompt(absl::string_view question) const;
  // The text the loss covers, given the answer (EOS is appended by the caller).
  std::string Answer(absl::string_view answer) const;

 private:
  std::string before_question_, between_, answer_lead_, after_answer_;
};

}  // namespace moe::worker

#endif  // MOE_WORKER_DATA_PROMPT_TEMPLATE_H_
