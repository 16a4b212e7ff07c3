// Evaluation of a model on question/answer data: teacher-forced answer-token loss, expert
// load, and exact match of greedy answers against the references (the Natural Questions
// metric: normalised string equality with any listed answer).
#ifndef MOE_WORKER_TRAIN_EVALUATOR_H_
#define MOE_WORKER_TRAIN_EVALUATOR_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "moe/v1/job.pb.h"
#include "nlohmann/json.hpp"
#include "worker/data/dataset.h"
#include "worker/data/qa_file.h"
#include "worker/data/tokenizer.h"
#include "worker/model/mpt_model.h"

namespace moe::worker {

struct EvalResult {
  double loss = 0;                   // mean cross-entropy over answer (and EOS) tokens
  int64_t tokens = 0;                // answer tokens scored
  std::vector<double> expert_share;  // routed tokens per expert, summed over MoE layers
  double exact_match = 0;            // fraction of samples answered exactly (normalised)
  int64_t samples = 0;

  nlohmann::json ToJson() const;
};

// Lower case, punctuation removed, articles (a, an, the) removed, whitespace collapsed — the
// SQuAD / Natural Questions answer normalisation.
std::string NormalizeAnswer(absl::string_view text);

// Greedy continuations of `prompts` (without EOS), batched with right padding: each row's next
// token is read at its own last position, padding is masked out by segment id 0. A row stops
// at `eos` (-1: never) or after max_new_tokens. Only ids below `vocab` (the tokenizer's size;
// the embedding is padded past it) are chosen. Call in eval mode under NoGradGuard.
std::vector<std::vector<int32_t>> GreedyDecode(MptForCausalLM& model,
                                               const std::vector<std::vector<int32_t>>& prompts,
                                               int32_t eos, int64_t vocab, int64_t max_new_tokens);

// Evaluation data, read and tokenized once: the records (for exact match) and the samples
// (for the loss).
struct EvalSet {
  QaFile file;
  std::unique_ptr<Dataset> dataset;
};

// Reads the `split` records of `data` (train_file; see qa_file.h). Expert labels are not used.
absl::StatusOr<EvalSet> LoadEvalSet(const moe::v1::DataSpec& data, const Tokenizer& tokenizer,
                                    DataSplit split);

// Evaluates `model` on `set` (loaded from `data`). Greedy answers stop at EOS or after
// data.max_target_len tokens. Leaves the model in eval mode.
absl::StatusOr<EvalResult> Evaluate(MptForCausalLM& model, const Tokenizer& tokenizer,
                                    const moe::v1::DataSpec& data, const EvalSet& set);

}  // namespace moe::worker

#endif  // MOE_WORKER_TRAIN_EVALUATOR_H_
