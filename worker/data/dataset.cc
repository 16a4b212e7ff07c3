#include "worker/data/dataset.h"

#include <algorithm>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "spdlog/spdlog.h"
#include "worker/data/prompt_template.h"
#include "worker/data/qa_file.h"

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
                                                       const std::vector<std::string>& experts,
                                                       DataSplit split) {
  absl::StatusOr<QaFile> file = ReadQaFile(spec, split, experts);
  if (!file.ok()) return file.status();
  return FromRecords(spec, tokenizer, *file, static_cast<int>(experts.size()));
}

absl::StatusOr<std::unique_ptr<Dataset>> Dataset::FromRecords(const moe::v1::DataSpec& spec,
                                                              const Tokenizer& tokenizer,
                                                              const QaFile& file, int num_experts) {
  if (spec.max_target_len() == 0 || spec.max_target_len() >= spec.max_seq_len()) {
    return absl::InvalidArgumentError("data.max_target_len must be > 0 and < data.max_seq_len");
  }
  absl::StatusOr<PromptTemplate> prompt_template = PromptTemplate::Parse(spec.prompt_template());
  if (!prompt_template.ok()) return prompt_template.status();
  absl::StatusOr<int32_t> eos = FindEosId(tokenizer);
  if (!eos.ok()) return eos.status();
  auto data = std::unique_ptr<Dataset>(new Dataset());
  data->eos_id_ = *eos;
  data->stats_.lines = file.lines;
  data->stats_.skipped = file.skipped;
  data->stats_.per_expert.assign(num_experts, 0);
  for (size_t i = 0; i < file.records.size(); ++i) {
    const QaRecord& record = file.records[i];
    data->Append(tokenizer.Encode(prompt_template->Prompt(record.question)),
                 tokenizer.Encode(prompt_template->Answer(record.answer)), file.experts[i], spec);
  }
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
