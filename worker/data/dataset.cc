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

absl::StatusOr<std::unique_ptr<Dataset>> Dataset::Load(const moe::v1::DataSpec& spec,
                                                       const Tokenizer& tokenizer,
                                                       const std::vector<std::string>& experts) {
  if (spec.max_target_len() == 0 || spec.max_target_len() >= spec.max_seq_len()) {
    return absl::InvalidArgumentError("data.max_target_len must be > 0 and < data.max_seq_len");
  }
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
  std::string line;
  int64_t line_number = 0;
  while (std::getline(in, line) && (spec.max_samples() == 0 || data->size() < spec.max_samples())) {
    ++line_number;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    ++data->stats_.lines;
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
      if (data->stats_.skipped++ < 5) spdlog::warn("skipping {}", where);
      continue;
    }
    data->Append(tokenizer.Encode(prompt_template->Prompt(record->question)),
                 tokenizer.Encode(prompt_template->Answer(record->answer)), *expert, spec);
  }
  if (data->size() == 0)
    return absl::InvalidArgumentError(absl::StrCat(path, ": no valid samples"));
  return data;
}

void Dataset::Append(std::vector<int32_t> prompt, std::vector<int32_t> answer, int32_t expert,
                     const moe::v1::DataSpec& spec) {
  if (answer.size() > spec.max_target_len()) {
    answer.resize(spec.max_target_len());
    ++stats_.answers_truncated;
  }
  answer.push_back(eos_id_);
  if (prompt.size() + answer.size() > spec.max_seq_len()) {
    prompt.resize(spec.max_seq_len() - answer.size());  // max_target_len < max_seq_len
    ++stats_.prompts_truncated;
  }
  ids_.insert(ids_.end(), prompt.begin(), prompt.end());
  ids_.insert(ids_.end(), answer.begin(), answer.end());
  offsets_.push_back(static_cast<int64_t>(ids_.size()));
  loss_start_.push_back(static_cast<int32_t>(prompt.size()));
  expert_.push_back(expert);
  if (expert >= 0) ++stats_.per_expert[expert];
}

SampleView Dataset::sample(size_t i) const {
  return SampleView{absl::MakeConstSpan(ids_).subspan(offsets_[i], length(i)), loss_start_[i],
                    expert_[i]};
}

}  // namespace moe::worker
