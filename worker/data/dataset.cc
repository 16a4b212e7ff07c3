#include "worker/data/dataset.h"

#include <algorithm>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "spdlog/spdlog.h"
#include "worker/data/prompt_template.h"
#include "worker/data/qa_record.h"

namespace moe::worker {

absl::StatusOr<int32_t> FindEosId(const Tokenizer& tokenizer) {
  for (const char* token : {"<|endoftext|>", "<|end_of_text|>", "</s>"}) {
    if (auto id = tokenizer.TokenToId(token)) return *id;
  }
  return absl::NotFoundError(
      "tokenizer has no end-of-sequence token (<|endoftext|>, <|end_of_text|> or </s>)");
}

absl::StatusOr<std::unique_ptr<Dataset>> Dataset::Load(const moe::v1::DataSpec& spec,
                                                       const Tokenizer& tokenizer,
                                                       const std::vector<std::string>& experts) {
  const std::string& path = spec.train_file();
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot read data file"));
  absl::StatusOr<PromptTemplate> prompt_template = PromptTemplate::Parse(spec.prompt_template());
  if (!prompt_template.ok()) return prompt_template.status();
  absl::StatusOr<int32_t> eos = FindEosId(tokenizer);
  if (!eos.ok()) return eos.status();

  auto data = std::unique_ptr<Dataset>(new Dataset());
  data->eos_id_ = *eos;
  data->stats_.per_expert.assign(experts.size(), 0);
  const size_t max_seq = spec.max_seq_len(), max_target = spec.max_target_len();
  std::vector<int32_t> prompt, answer;
  std::string line;
  int64_t line_number = 0;
  while (std::getline(in, line) && (spec.max_samples() == 0 || data->size() < spec.max_samples())) {
    ++line_number;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    ++data->stats_.lines;
    absl::StatusOr<QaRecord> record = ParseQaRecord(line);
    int32_t expert = -1;
    if (record.ok() && !experts.empty()) {
      const auto it = std::find(experts.begin(), experts.end(), record->expert_label);
      if (it == experts.end()) {
        record = absl::InvalidArgumentError(
            record->expert_label.empty()
                ? "\"expert_label\" is missing"
                : absl::StrCat("expert_label '", record->expert_label, "' is not one of ",
                               absl::StrJoin(experts, ", "), " (model.moe.experts)"));
      } else {
        expert = static_cast<int32_t>(it - experts.begin());
      }
    }
    if (!record.ok()) {
      const std::string where =
          absl::StrCat(path, ":", line_number, ": ", record.status().message());
      if (!spec.skip_invalid()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, " (set data.skip_invalid to skip such lines)"));
      }
      if (data->stats_.skipped++ < 5) spdlog::warn("skipping {}", where);
      continue;
    }
    prompt.clear();
    answer.clear();
    tokenizer.Encode(prompt_template->Prompt(record->question), &prompt);
    tokenizer.Encode(prompt_template->Answer(record->answer), &answer);
    if (answer.size() > max_target) {
      answer.resize(max_target);
      ++data->stats_.answers_truncated;
    }
    answer.push_back(*eos);
    if (prompt.size() + answer.size() > max_seq) {
      prompt.resize(max_seq - answer.size());
      ++data->stats_.prompts_truncated;
    }
    data->ids_.insert(data->ids_.end(), prompt.begin(), prompt.end());
    data->ids_.insert(data->ids_.end(), answer.begin(), answer.end());
    data->offsets_.push_back(static_cast<int64_t>(data->ids_.size()));
    data->loss_start_.push_back(static_cast<int32_t>(prompt.size()));
    data->expert_.push_back(expert);
    if (expert >= 0) ++data->stats_.per_expert[expert];
  }
  if (data->size() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no valid samples"));
  }
  return data;
}

SampleView Dataset::sample(size_t i) const {
  return SampleView{absl::MakeConstSpan(ids_).subspan(offsets_[i], length(i)), loss_start_[i],
                    expert_[i]};
}

}  // namespace moe::worker
