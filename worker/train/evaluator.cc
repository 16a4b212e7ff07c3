#include "worker/train/evaluator.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "worker/data/data_loader.h"
#include "worker/data/dataset.h"
#include "worker/data/prompt_template.h"
#include "worker/train/batch_tensors.h"
#include "worker/train/trainer.h"

namespace moe::worker {
namespace {

constexpr int64_t kGenerateRows = 16;

// Teacher-forced loss and expert load over the whole split.
void ScoreLoss(MptForCausalLM& model, const Dataset& dataset, const moe::v1::DataSpec& data,
               EvalResult* result) {
  LoaderOptions options;
  options.micro_batch_size = 8;
  options.max_seq_len = static_cast<int32_t>(data.max_seq_len());
  options.packing = true;
  DataLoader loader(dataset, options);
  const torch::Device device = model->device();
  torch::Tensor ce = torch::zeros({}, torch::dtype(torch::kFloat64).device(device));
  torch::Tensor routed;  // [E] int64, every MoE layer's assignments
  for (Batch b; loader.Next(&b);) {
    const ModelOutput out = model->forward({RowsTensor(b.input_ids, b.rows, b.seq_len, device),
                                            RowsTensor(b.segment_ids, b.rows, b.seq_len, device),
                                            {}});
    ce += SummedCrossEntropy(out.logits_BTV, LabelsOf(b, device));
    result->tokens += b.loss_tokens;
    for (const MoeStats& layer : out.moe_stats) {
      routed = routed.defined() ? routed + layer.tokens_per_expert : layer.tokens_per_expert;
    }
  }
  result->loss = ce.item<double>() / std::max<int64_t>(result->tokens, 1);
  if (!routed.defined()) return;
  const torch::Tensor share = routed.to(torch::kCPU, torch::kFloat64);
  const double total = share.sum().item<double>();
  for (int64_t e = 0; e < share.size(0); ++e)
    result->expert_share.push_back(total > 0 ? share[e].item<double>() / total : 0);
}

}  // namespace

nlohmann::json EvalResult::ToJson() const {
  return {{"loss", loss},
          {"tokens", tokens},
          {"expert_share", expert_share},
          {"exact_match", exact_match},
          {"samples", samples}};
}

std::vector<std::vector<int32_t>> GreedyDecode(MptForCausalLM& model,
                                               const std::vector<std::vector<int32_t>>& prompts,
                                               int32_t eos, int64_t vocab, int64_t max_new_tokens) {
  std::vector<std::vector<int32_t>> rows = prompts, answers(prompts.size());
  std::vector<bool> done(prompts.size(), false);
  for (int64_t step = 0; step < max_new_tokens; ++step) {
    size_t longest = 0;
    for (const auto& r : rows) longest = std::max(longest, r.size());
    std::vector<int32_t> ids(rows.size() * longest, std::max(eos, 0)),
        segments(rows.size() * longest, 0);
    for (size_t r = 0; r < rows.size(); ++r) {
      std::copy(rows[r].begin(), rows[r].end(), ids.begin() + r * longest);
      std::fill_n(segments.begin() + r * longest, rows[r].size(), 1);
    }
    const int32_t n = static_cast<int32_t>(rows.size()), t = static_cast<int32_t>(longest);
    const torch::Device device = model->device();
    const torch::Tensor logits =
        model->forward({RowsTensor(ids, n, t, device), RowsTensor(segments, n, t, device), {}})
            .logits_BTV.to(torch::kCPU);
    bool all_done = true;
    for (size_t r = 0; r < rows.size(); ++r) {
      if (done[r]) continue;
      const int32_t next = static_cast<int32_t>(
          logits[r][rows[r].size() - 1].narrow(0, 0, vocab).argmax().item<int64_t>());
      if (next == eos) {
        done[r] = true;
        continue;
      }
      rows[r].push_back(next);
      answers[r].push_back(next);
      all_done = false;
    }
    if (all_done) break;
  }
  return answers;
}

std::string NormalizeAnswer(absl::string_view text) {
  std::string lowered = absl::AsciiStrToLower(text);
  std::string kept;
  for (char c : lowered) {
    if (!absl::ascii_ispunct(c)) kept.push_back(c);
  }
  std::vector<std::string> words;
  for (absl::string_view word :
       absl::StrSplit(kept, absl::ByAnyChar(" \t\n\r"), absl::SkipEmpty())) {
    if (word != "a" && word != "an" && word != "the") words.emplace_back(word);
  }
  return absl::StrJoin(words, " ");
}

absl::StatusOr<EvalSet> LoadEvalSet(const moe::v1::DataSpec& data, const Tokenizer& tokenizer,
                                    DataSplit split) {
  EvalSet set;
  ASSIGN_OR_RETURN(set.file, ReadQaFile(data, split, {}));
  ASSIGN_OR_RETURN(set.dataset, Dataset::FromRecords(data, tokenizer, set.file, 0));
  return set;
}

absl::StatusOr<EvalResult> Evaluate(MptForCausalLM& model, const Tokenizer& tokenizer,
                                    const moe::v1::DataSpec& data, const EvalSet& set) {
  torch::NoGradGuard no_grad;
  model->eval();
  EvalResult result;
  ScoreLoss(model, *set.dataset, data, &result);
  const QaFile& file = set.file;
  ASSIGN_OR_RETURN(PromptTemplate prompt_template, PromptTemplate::Parse(data.prompt_template()));
  ASSIGN_OR_RETURN(int32_t eos, FindEosId(tokenizer));
  int64_t correct = 0;
  for (size_t begin = 0; begin < file.records.size(); begin += kGenerateRows) {
    const size_t end = std::min(file.records.size(), begin + kGenerateRows);
    std::vector<std::vector<int32_t>> prompts;
    for (size_t i = begin; i < end; ++i) {
      std::vector<int32_t> prompt =
          tokenizer.Encode(prompt_template.Prompt(file.records[i].question));
      // Cut as the data set cuts prompts for training: room for the answer and EOS.
      const size_t room = data.max_seq_len() - data.max_target_len() - 1;
      if (prompt.size() > room) prompt.resize(room);
      prompts.push_back(std::move(prompt));
    }
    const auto answers = GreedyDecode(model, prompts, eos, tokenizer.size(), data.max_target_len());
    for (size_t i = begin; i < end; ++i) {
      ASSIGN_OR_RETURN(const std::string text, tokenizer.Decode(answers[i - begin]));
      const std::string guess = NormalizeAnswer(text);
      correct += std::any_of(file.records[i].answers.begin(), file.records[i].answers.end(),
                             [&](const std::string& a) { return NormalizeAnswer(a) == guess; });
    }
  }
  result.samples = static_cast<int64_t>(file.records.size());
  result.exact_match = static_cast<double>(correct) / std::max<int64_t>(result.samples, 1);
  return result;
}

}  // namespace moe::worker
