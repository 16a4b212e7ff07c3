#include "client/expert_labeler.h"

#include "common/check.h"

namespace moe::client {
namespace {

std::unique_ptr<worker::Regex> Compile(absl::string_view pattern) {
  auto regex = worker::Regex::Create(pattern);
  MOE_CHECK(regex.ok(), "{}", std::string(regex.status().message()));
  return std::move(*regex);
}

bool Matches(const worker::Regex& regex, absl::string_view text) {
  std::vector<std::pair<size_t, size_t>> spans;
  regex.FindAll(text, &spans);
  return !spans.empty();
}

}  // namespace

ExpertLabeler::ExpertLabeler()
    : numerical_(Compile(
          R"((?i)\bhow\s+(many|much|long|old|far|tall|big|often|fast|high)\b|\bnumber\s+of\b|)"
          R"(\bwhat\s+(year|percent|percentage|age)\b|\d)")),
      numeric_answer_(Compile(R"(^\s*[-+]?[\d.,]+\s*\S*\s*$)")),
      comparison_(Compile(
          R"((?i)\b(more|less|fewer|older|younger|bigger|larger|smaller|longer|shorter|higher|)"
          R"(lower|greater|better|worse|earlier|later)\s+than\b|\bbetween\b|\bcompared?\b|)"
          R"(\bwhich\s+(came|comes|was|is)\s+first\b|\bboth\b|\w\s*,?\s+or\s+\w|)"
          R"(\b(same|in\s+common)\b)")),
      two_names_(Compile(R"(\b\p{Lu}\w*(\s+\p{Lu}\w*)*\s+(and|or)\s+\p{Lu}\w*)")),
      why_(Compile(R"((?i)^\s*(why|how)\b|\bexplain\b|\bcause[sd]?\b|\breasons?\b)")) {}

std::string ExpertLabeler::Label(absl::string_view question, absl::string_view answer) const {
  if (Matches(*numerical_, question) || Matches(*numeric_answer_, answer)) {
    return "numerical_reasoning";
  }
  if (Matches(*comparison_, question) || Matches(*two_names_, question)) {
    return "multi_hop_reasoning";
  }
  if (Matches(*why_, question)) return "commonsense_reasoning";
  return "factual_lookup";
}

}  // namespace moe::client
