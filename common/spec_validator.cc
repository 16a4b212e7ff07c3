#include "common/spec_validator.h"

#include <filesystem>
#include <set>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"

namespace moe::common {
namespace {

// Collects problems under a path prefix; `Check` records `message` when `ok` is false.
class Problems {
 public:
  Problems(std::vector<SpecProblem>* out, SpecFiles files) : out_(out), files_(files) {}
  void Check(bool ok, std::string path, std::string message) {
    if (!ok) out_->push_back({std::move(path), std::move(message)});
  }
  void CheckFile(const std::string& file, std::string path, bool want_directory) {
    if (files_ == SpecFiles::kMayBeElsewhere) return;
    std::error_code ec;
    const bool exists = want_directory ? std::filesystem::is_directory(file, ec)
                                       : std::filesystem::is_regular_file(file, ec);
    Check(exists, std::move(path),
          absl::StrCat(file, want_directory ? " is not a directory" : " is not a readable file"));
  }

 private:
  std::vector<SpecProblem>* out_;
  const SpecFiles files_;
};

void CheckModel(const moe::v1::JobSpec& spec, Problems& p) {
  const moe::v1::ModelSpec& m = spec.model();
  switch (m.source_case()) {
    case moe::v1::ModelSpec::kHfPath:
      p.CheckFile(m.hf_path(), "model.hf_path", /*want_directory=*/true);
      break;
    case moe::v1::ModelSpec::kConfig: {
      const moe::v1::MptConfig& c = m.config();
      p.Check(c.d_model() > 0, "model.config.d_model", "must be > 0");
      p.Check(c.n_heads() > 0, "model.config.n_heads", "must be > 0");
      p.Check(c.n_heads() == 0 || c.d_model() % c.n_heads() == 0, "model.config.n_heads",
              absl::StrCat("must divide d_model (", c.d_model(), ")"));
      p.Check(c.n_layers() > 0, "model.config.n_layers", "must be > 0");
      p.Check(c.expansion_ratio() > 0, "model.config.expansion_ratio", "must be > 0");
      p.Check(c.max_seq_len() >= spec.data().max_seq_len(), "model.config.max_seq_len",
              absl::StrCat("must be >= data.max_seq_len (", spec.data().max_seq_len(), ")"));
      p.Check(c.alibi_bias_max() > 0, "model.config.alibi_bias_max", "must be > 0");
      p.Check(c.layer_norm_eps() > 0, "model.config.layer_norm_eps", "must be > 0");
      break;
    }
    case moe::v1::ModelSpec::SOURCE_NOT_SET:
      p.Check(false, "model", "set hf_path (a Hugging Face MPT directory) or config (random init)");
  }
  if (m.tokenizer().empty()) {
    p.Check(false, "model.tokenizer", "required: path to a Hugging Face tokenizer.json");
  } else {
    p.CheckFile(m.tokenizer(), "model.tokenizer", /*want_directory=*/false);
  }

  const moe::v1::MoeSpec& moe = m.moe();
  const int experts = moe.experts_size();
  std::set<std::string> names;
  for (int i = 0; i < experts; ++i) {
    const std::string path = absl::StrCat("model.moe.experts[", i, "]");
    p.Check(!moe.experts(i).empty(), path, "expert names must not be empty");
    p.Check(names.insert(moe.experts(i)).second, path,
            absl::StrCat("'", moe.experts(i), "' is listed twice"));
  }
  p.Check(experts != 1, "model.moe.experts", "list at least 2 experts, or none for a dense model");
  if (experts > 0) {
    p.Check(moe.top_k() >= 1 && moe.top_k() <= static_cast<uint32_t>(experts), "model.moe.top_k",
            absl::StrCat("must be between 1 and the number of experts (", experts, ")"));
  }
  if (moe.layers_case() == moe::v1::MoeSpec::kEveryNLayers) {
    p.Check(moe.every_n_layers() > 0, "model.moe.every_n_layers", "must be > 0");
  }
  if (moe.layers_case() == moe::v1::MoeSpec::kLayerList) {
    const auto& list = moe.layer_list().layers();
    p.Check(!list.empty(), "model.moe.layer_list.layers",
            "list at least one layer (or no experts for a dense model)");
    for (int i = 1; i < list.size(); ++i) {
      p.Check(
          list[i] > list[i - 1], absl::StrCat("model.moe.layer_list.layers[", i, "]"),
          absl::StrCat(list[i], " follows ", list[i - 1], ": list layers ascending, once each"));
    }
    if (spec.model().has_config() && !list.empty()) {
      p.Check(list[list.size() - 1] < spec.model().config().n_layers(),
              "model.moe.layer_list.layers",
              absl::StrCat("layer ", list[list.size() - 1], " is past the model's ",
                           spec.model().config().n_layers(), " layers (0-based)"));
    }
  }
  p.Check(moe.capacity_factor() >= 0, "model.moe.capacity_factor", "must be >= 0 (0: dropless)");
  p.Check(moe.load_balance_loss_weight() >= 0, "model.moe.load_balance_loss_weight",
          "must be >= 0");
  p.Check(moe.z_loss_weight() >= 0, "model.moe.z_loss_weight", "must be >= 0");
  p.Check(moe.label_loss_weight() >= 0, "model.moe.label_loss_weight", "must be >= 0");
  p.Check(moe.upcycle_noise() >= 0, "model.moe.upcycle_noise", "must be >= 0");
  p.Check(experts > 0 || moe.routing() == moe::v1::ROUTING_MODE_LEARNED, "model.moe.routing",
          "label routing needs model.moe.experts");
}

void CheckData(const moe::v1::DataSpec& d, Problems& p) {
  if (d.train_file().empty()) {
    p.Check(false, "data.train_file", "required: a JSONL file of question/answer/expert_label");
  } else {
    p.CheckFile(d.train_file(), "data.train_file", /*want_directory=*/false);
  }
  p.Check(d.max_seq_len() >= 16, "data.max_seq_len", "must be >= 16");
  p.Check(d.max_target_len() > 0 && d.max_target_len() < d.max_seq_len(), "data.max_target_len",
          absl::StrCat("must be > 0 and < data.max_seq_len (", d.max_seq_len(), ")"));
  const std::string& t = d.prompt_template();
  const size_t q = t.find("{question}");
  const size_t a = t.find("{answer}");
  const bool once = q != std::string::npos && a != std::string::npos &&
                    t.find("{question}", q + 1) == std::string::npos &&
                    t.find("{answer}", a + 1) == std::string::npos;
  p.Check(d.eval_fraction() >= 0 && d.eval_fraction() < 1, "data.eval_fraction",
          "must be in [0, 1)");
  p.Check(once && q < a, "data.prompt_template",
          "must contain {question} once and then {answer} once");
}

void CheckTraining(const moe::v1::TrainingSpec& t, Problems& p) {
  p.Check(t.epochs() > 0, "training.epochs", "must be > 0");
  p.Check(t.learning_rate() > 0, "training.learning_rate", "must be > 0 (e.g. 2e-5)");
  p.Check(t.micro_batch_size() > 0, "training.micro_batch_size", "must be > 0");
  p.Check(t.grad_accumulation() > 0, "training.grad_accumulation", "must be > 0");
  p.Check(t.max_grad_norm() >= 0, "training.max_grad_norm", "must be >= 0 (0: no clipping)");
  p.Check(t.weight_decay() >= 0, "training.weight_decay", "must be >= 0");
  p.Check(t.adam_beta1() >= 0 && t.adam_beta1() < 1, "training.adam_beta1", "must be in [0, 1)");
  p.Check(t.adam_beta2() >= 0 && t.adam_beta2() < 1, "training.adam_beta2", "must be in [0, 1)");
  p.Check(t.adam_eps() > 0, "training.adam_eps", "must be > 0");
}

}  // namespace

std::vector<SpecProblem> FindSpecProblems(const moe::v1::JobSpec& spec, SpecFiles files) {
  std::vector<SpecProblem> out;
  Problems p(&out, files);
  const std::string& name = spec.name();
  const bool name_ok =
      !name.empty() && name.size() <= 63 && name[0] != '.' && name[0] != '_' && name[0] != '-' &&
      absl::c_all_of(name, [](char c) {
        return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '.' || c == '_' || c == '-';
      });
  p.Check(name_ok, "name",
          "required: lower-case letters, digits, '.', '_' or '-', at most 63 characters");
  CheckModel(spec, p);
  CheckData(spec.data(), p);
  CheckTraining(spec.training(), p);
  p.Check(spec.training().eval_every() == 0 || spec.data().eval_fraction() > 0,
          "training.eval_every", "needs a held-out split: set data.eval_fraction (e.g. 0.05)");
  p.Check(spec.zero().stage() == 0 || spec.zero().stage() == 2, "zero.stage",
          "must be 0 (plain data parallel) or 2");
  p.Check(spec.zero().bucket_mb() > 0, "zero.bucket_mb", "must be > 0");
  p.Check(
      spec.zero().offload_optimizer() != moe::v1::OFFLOAD_DEVICE_CPU || spec.zero().stage() == 2,
      "zero.offload_optimizer", "cpu needs zero.stage 2 (the optimizer state is partitioned)");
  p.Check(!spec.checkpoint().output_dir().empty(), "checkpoint.output_dir", "required");
  if (!spec.checkpoint().resume_from().empty()) {
    p.CheckFile(spec.checkpoint().resume_from(), "checkpoint.resume_from", true);
  }
  if (const std::string& mtbi = spec.checkpoint().mean_time_between_interruptions();
      !mtbi.empty()) {
    absl::Duration d;
    p.Check(
        absl::ParseDuration(mtbi, &d) && d > absl::ZeroDuration() && d < absl::InfiniteDuration(),
        "checkpoint.mean_time_between_interruptions",
        absl::StrCat("'", mtbi, "' is not a positive duration such as 2h, 30m or 1h30m"));
  }
  p.Check(spec.resources().world_size() > 0, "resources.world_size", "must be > 0");
  p.Check(spec.logging().logging_steps() > 0, "logging.logging_steps", "must be > 0");
  const std::set<std::string> levels = {"trace", "debug", "info", "warn", "error", "off"};
  p.Check(levels.count(spec.logging().log_level()) > 0, "logging.log_level",
          "must be one of trace, debug, info, warn, error, off");
  return out;
}

absl::Status CheckSpecSize(const moe::v1::JobSpec& spec) {
  const size_t bytes = spec.ByteSizeLong();
  if (bytes <= kMaxSpecBytes) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "the job spec is ", bytes, " bytes encoded; moed accepts at most ", kMaxSpecBytes,
      " (1 MiB): keep long texts (data.prompt_template) in files the spec names"));
}

absl::Status ValidateJobSpec(const moe::v1::JobSpec& spec, SpecFiles files) {
  const std::vector<SpecProblem> problems = FindSpecProblems(spec, files);
  if (problems.empty()) return absl::OkStatus();
  std::vector<std::string> lines;
  for (const SpecProblem& problem : problems) {
    lines.push_back(absl::StrCat("  ", problem.path, ": ", problem.message));
  }
  return absl::InvalidArgumentError(absl::StrJoin(lines, "\n"));
}

}  // namespace moe::common
