// A question/answer JSONL file, tokenized once into flat arrays: for each sample its ids
// (prompt, answer, EOS), where the loss starts, and its expert label.
#ifndef MOE_WORKER_DATA_DATASET_H_
#define MOE_WORKER_DATA_DATASET_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "moe/v1/job.pb.h"
#include "worker/data/qa_file.h"
#include "worker/data/tokenizer.h"

namespace moe::worker {

struct SampleView {
  absl::Span<const int32_t> ids;  // prompt, then answer, then EOS
  int32_t loss_start;             // index of the first answer token in `ids`
  int32_t expert;                 // index into the expert names; -1 if the job has none
};

struct DatasetStats {
  int64_t lines = 0;                // non-blank lines read
  int64_t skipped = 0;              // invalid lines skipped (skip_invalid)
  int64_t answers_truncated = 0;    // answers cut to max_target_len
  int64_t prompts_truncated = 0;    // prompts cut so the sample fits max_seq_len
  std::vector<int64_t> per_expert;  // samples per expert label
};

class Dataset {
 public:
  // Reads data.train_file: renders each record with data.prompt_template, tokenizes prompt and
  // answer, cuts the answer to max_target_len tokens, appends EOS, and cuts the prompt's tail
  // if the sample would exceed max_seq_len. `experts` are the job's expert names; labels must
  // be among them (ignored when `experts` is empty). Stops after max_samples samples.
  // Errors: NotFound for an unreadable file; InvalidArgument "FILE:LINE: what" for a bad
  // line (unless skip_invalid), an unknown expert label, or a file without samples. `split`
  // picks the training lines or the held-out ones (data.eval_fraction), see qa_file.h.
  static absl::StatusOr<std::unique_ptr<Dataset>> Load(const moe::v1::DataSpec& spec,
                                                       const Tokenizer& tokenizer,
                                                       const std::vector<std::string>& experts,
                                                       DataSplit split = DataSplit::kTrain);

  // As Load, from records already read (`file.experts` index `num_experts` names).
  static absl::StatusOr<std::unique_ptr<Dataset>> FromRecords(const moe::v1::DataSpec& spec,
                                                              const Tokenizer& tokenizer,
                                                              const QaFile& file, int num_experts);

  size_t size() const { return loss_start_.size(); }
  SampleView sample(size_t i) const;
  int32_t length(size_t i) const { return static_cast<int32_t>(offsets_[i + 1] - offsets_[i]); }
  const DatasetStats& stats() const { return stats_; }
  int32_t eos_id() const { return eos_id_; }

 private:
  Dataset() = default;
  // Cuts and appends one sample (see Load), counting truncations.
  void Append(std::vector<int32_t> prompt, std::vector<int32_t> answer, int32_t expert,
              const moe::v1::DataSpec& spec);

  std::vector<int32_t> ids_;
  std::vector<int64_t> offsets_ = {0};  // size() + 1 entries
  std::vector<int32_t> loss_start_;
  std::vector<int32_t> expert_;
  DatasetStats stats_;
  int32_t eos_id_ = 0;
};

// The end-of-sequence id of `tokenizer`: <|endoftext|>, <|end_of_text|> or </s>, whichever
// it has. NotFound if none.
absl::StatusOr<int32_t> FindEosId(const Tokenizer& tokenizer);

}  // namespace moe::worker

#endif  // MOE_WORKER_DATA_DATASET_H_
