// The heuristic expert labels of `moectl prepare`, for Natural-Questions-style records that
// come without one. The first rule that matches wins:
//   numerical_reasoning    how many / much / long / old / far / often, "number of", "what
//                          year / percentage", a digit in the question, or a numeric answer
//   multi_hop_reasoning    comparisons ("more than", "older than", "between", "compared",
//                          "which came first", "both", "the same", "in common"), two things
//                          joined by "or", or two capitalised names joined by "and" / "or"
//   commonsense_reasoning  why / how questions, "explain", "cause", "reason"
//   factual_lookup         everything else
// Matching is case-insensitive except for names; \b and \d follow Unicode (PCRE2 with UCP).
#ifndef MOE_CLIENT_EXPERT_LABELER_H_
#define MOE_CLIENT_EXPERT_LABELER_H_

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "worker/data/regex.h"

namespace moe::client {

inline constexpr const char* kExpertLabels[] = {"factual_lookup", "numerical_reasoning",
                                                "multi_hop_reasoning", "commonsense_reasoning"};

class ExpertLabeler {
 public:
  ExpertLabeler();
  // One of kExpertLabels.
  std::string Label(absl::string_view question, absl::string_view answer) const;

 private:
  std::unique_ptr<worker::Regex> numerical_, numeric_answer_, comparison_, two_names_, why_;
};

}  // namespace moe::client

#endif  // MOE_CLIENT_EXPERT_LABELER_H_
