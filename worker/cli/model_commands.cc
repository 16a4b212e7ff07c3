// moe-worker init / forward / generate / inspect: make a job's starting model, and look at a
// saved model (a Hugging Face MPT directory, dense or MoE), for people and for checks.
#include <torch/torch.h>

#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/logging.h"
#include "common/model_config.h"
#include "common/status_macros.h"
#include "worker/cli/cli_util.h"
#include "worker/cli/commands.h"
#include "worker/data/dataset.h"
#include "worker/data/tokenizer.h"
#include "worker/model/hf_checkpoint.h"
#include "worker/model/safetensors.h"
#include "worker/train/evaluator.h"

namespace moe::worker {
namespace {

struct ForwardFlags {
  std::string checkpoint, ids, out;
};

absl::Status RunForward(const ForwardFlags& flags) {
  std::vector<int64_t> ids;
  for (absl::string_view part : absl::StrSplit(flags.ids, ',', absl::SkipWhitespace())) {
    int64_t id;
    if (!absl::SimpleAtoi(part, &id) || id < 0) {
      return absl::InvalidArgumentError(absl::StrCat("--ids: '", part, "' is not a token id"));
    }
    ids.push_back(id);
  }
  ASSIGN_OR_RETURN(MptForCausalLM model, LoadSavedModel(flags.checkpoint));
  const int64_t vocab = model->config().vocab_size();
  for (int64_t id : ids) {
    if (id >= vocab) {
      return absl::InvalidArgumentError(
          absl::StrCat("--ids: ", id, " is outside the vocabulary (size ", vocab, ")"));
    }
  }
  torch::NoGradGuard no_grad;
  const torch::Tensor input = torch::tensor(ids, torch::kInt64).unsqueeze(0);
  const torch::Tensor logits = model->forward({input, {}, {}}).logits_BTV[0].to(torch::kFloat32);
  RETURN_IF_ERROR(WriteSafetensors(flags.out, {{"logits", logits}}).status());
  spdlog::info("wrote logits [{}, {}] to {}", logits.size(0), logits.size(1), flags.out);
  return absl::OkStatus();
}

struct GenerateFlags {
  std::string checkpoint, tokenizer, prompt;
  int max_new_tokens = 32;
};

absl::Status RunGenerate(const GenerateFlags& flags) {
  const std::string path =
      flags.tokenizer.empty() ? flags.checkpoint + "/tokenizer.json" : flags.tokenizer;
  ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, Tokenizer::FromFile(path));
  ASSIGN_OR_RETURN(MptForCausalLM model, LoadSavedModel(flags.checkpoint));
  const absl::StatusOr<int32_t> eos = FindEosId(*tokenizer);
  torch::NoGradGuard no_grad;
  // No KV cache: every step recomputes the sequence (a tool for checks, not a server).
  const std::vector<int32_t> generated =
      GreedyDecode(model, {tokenizer->Encode(flags.prompt)}, eos.ok() ? *eos : -1,
                   tokenizer->size(), flags.max_new_tokens)[0];
  ASSIGN_OR_RETURN(const std::string text, tokenizer->Decode(generated));
  std::cout << flags.prompt << text << std::endl;
  return absl::OkStatus();
}

absl::Status RunInspect(const std::string& checkpoint) {
  ASSIGN_OR_RETURN(MptForCausalLM model, LoadSavedModel(checkpoint));
  const moe::v1::MptConfig& c = model->config();
  const moe::v1::MoeSpec& moe = model->moe_spec();
  const common::ParameterCount count = common::CountParameters(c, moe);
  std::cout << "model: MPT d_model " << c.d_model() << ", " << c.n_heads() << " heads, "
            << c.n_layers() << " layers, FFN " << c.expansion_ratio() * c.d_model() << ", vocab "
            << c.vocab_size() << ", max_seq_len " << c.max_seq_len() << ", ALiBi bias max "
            << c.alibi_bias_max() << "\n";
  std::cout << "parameters: " << count.total << " total, " << count.active_per_token
            << " active per token (" << count.embedding << " in the tied embedding)\n";
  if (moe.experts_size() == 0) {
    std::cout << "experts: none (dense)\n";
    return absl::OkStatus();
  }
  const std::vector<int> layers = common::MoeLayers(static_cast<int>(c.n_layers()), moe);
  std::cout << "experts: " << moe.experts_size() << " (" << absl::StrJoin(moe.experts(), ", ")
            << "), top-" << moe.top_k() << (moe.normalize_top_k() ? " renormalised" : "")
            << ", capacity factor " << moe.capacity_factor()
            << (moe.capacity_factor() == 0 ? " (dropless)" : "") << "\n";
  std::cout << "MoE layers: " << absl::StrJoin(layers, ", ") << " of " << c.n_layers() << "\n";
  return absl::OkStatus();
}

struct InitFlags {
  std::string spec, out;
};

// Builds a job's starting model (random init, or a Hugging Face model loaded and upcycled)
// and saves it with its tokenizer.
absl::Status RunInit(const InitFlags& flags) {
  ASSIGN_OR_RETURN(const JobFiles job, LoadJobFiles(flags.spec));
  const moe::v1::ModelSpec& spec = job.spec.model();
  ASSIGN_OR_RETURN(MptForCausalLM model,
                   BuildModel(spec, job.tokenizer->size(), job.spec.training().seed()));
  if (spec.precision() == moe::v1::PRECISION_BF16) model->SetDtype(torch::kBFloat16);
  RETURN_IF_ERROR(SaveHfModel(model, flags.out));
  std::error_code ec;
  std::filesystem::copy_file(spec.tokenizer(), std::filesystem::path(flags.out) / "tokenizer.json",
                             std::filesystem::copy_options::overwrite_existing, ec);
  if (ec) return absl::InternalError(absl::StrCat(flags.out, ": ", ec.message()));
  const common::ParameterCount count = common::CountParameters(model->config(), model->moe_spec());
  spdlog::info("wrote {} ({} parameters, {} active per token)", flags.out, count.total,
               count.active_per_token);
  return absl::OkStatus();
}

}  // namespace

void AddModelCommands(CLI::App& app, int* exit_code) {
  auto forward = std::make_shared<ForwardFlags>();
  CLI::App* f =
      app.add_subcommand("forward",
                         "Run a saved model on token ids and write the fp32 logits [T, vocab] "
                         "as safetensors under the key 'logits'.");
  f->add_option("--checkpoint", forward->checkpoint, "Model directory (config.json + weights)")
      ->required()
      ->check(CLI::ExistingDirectory);
  f->add_option("--ids", forward->ids, "Comma-separated token ids, e.g. 5,17,42")->required();
  f->add_option("--out", forward->out, "Output .safetensors file")->required();
  f->callback([forward, exit_code] { *exit_code = ExitCode(RunForward(*forward)); });

  auto generate = std::make_shared<GenerateFlags>();
  CLI::App* g = app.add_subcommand("generate", "Greedy decoding from a saved model.");
  g->add_option("--checkpoint", generate->checkpoint, "Model directory")
      ->required()
      ->check(CLI::ExistingDirectory);
  g->add_option("--prompt", generate->prompt, "Text to continue")->required();
  g->add_option("--tokenizer", generate->tokenizer,
                "tokenizer.json (default: CHECKPOINT/tokenizer.json)");
  g->add_option("--max-new-tokens", generate->max_new_tokens,
                "Stop after this many tokens (or at EOS)")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  g->callback([generate, exit_code] { *exit_code = ExitCode(RunGenerate(*generate)); });

  auto init = std::make_shared<InitFlags>();
  CLI::App* n = app.add_subcommand(
      "init",
      "Build a job's starting model as training would (random initialisation, or its "
      "Hugging Face model loaded and, if the job asks for experts, upcycled) and save it "
      "with its tokenizer as a Hugging Face directory.");
  n->add_option("--spec", init->spec, "Job spec (YAML)")->required()->check(CLI::ExistingFile);
  n->add_option("--out", init->out, "Output directory")->required();
  n->callback([init, exit_code] { *exit_code = ExitCode(RunInit(*init)); });

  auto inspect = std::make_shared<std::string>();
  CLI::App* i = app.add_subcommand("inspect",
                                   "Print a saved model's configuration, parameter counts "
                                   "(total and active per token) and expert layout.");
  i->add_option("--checkpoint", *inspect, "Model directory")
      ->required()
      ->check(CLI::ExistingDirectory);
  i->callback([inspect, exit_code] { *exit_code = ExitCode(RunInspect(*inspect)); });
}

}  // namespace moe::worker
