#include "plan/job_plan.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "worker/data/tokenizer.h"

namespace moe::plan {
namespace {

using Verdict = JobPlan::Verdict;

// Within this share of the memory, a plan that fits is tight.
constexpr double kTightShare = 0.05;

absl::Status ResolveModel(moe::v1::ModelSpec& model) {
  if (model.has_config()) {
    int32_t vocab = 0;
    if (model.config().vocab_size() == 0) {
      ASSIGN_OR_RETURN(auto tokenizer, worker::Tokenizer::FromFile(model.tokenizer()));
      vocab = tokenizer->size();
    }
    return common::ResolveVocabSize(vocab, model.mutable_config());
  }
  moe::v1::MptConfig config;
  moe::v1::MoeSpec stored;
  RETURN_IF_ERROR(common::ReadHfConfig(model.hf_path(), &config, &stored));
  *model.mutable_config() = config;  // (clears hf_path: the plan needs only the shapes)
  return absl::OkStatus();
}

Verdict VerdictOf(int64_t total, int64_t device_bytes) {
  if (device_bytes <= 0) return Verdict::kUnknown;
  if (total > device_bytes) return Verdict::kDoesNotFit;
  return total > (1 - kTightShare) * device_bytes ? Verdict::kTight : Verdict::kFits;
}

const char* VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kFits:
      return "fits";
    case Verdict::kTight:
      return "fits, within 5%";
    case Verdict::kDoesNotFit:
      return "does not fit";
    default:
      return "unknown (no device memory given)";
  }
}

// The plan's largest part, by name.
std::pair<const char*, int64_t> LargestPart(const common::MemoryPlan& p) {
  std::pair<const char*, int64_t> parts[] = {{"parameters", p.parameters},
                                             {"gradients (fp32)", p.gradients},
                                             {"optimizer state (fp32)", p.optimizer},
                                             {"buckets in flight", p.buckets},
                                             {"activations", p.activations}};
  return *std::max_element(std::begin(parts), std::end(parts),
                           [](const auto& a, const auto& b) { return a.second < b.second; });
}

// The first of `candidates` (a change's description and the spec and ranks it gives) that
// fits, if any.
void AddFirstThatFits(const std::vector<std::tuple<std::string, moe::v1::JobSpec, int>>& candidates,
                      int64_t device_bytes, std::vector<JobPlan::Change>* fixes) {
  for (const auto& [what, spec, ranks] : candidates) {
    const common::MemoryPlan plan = common::PlanMemoryFromSpec(spec, ranks);
    if (plan.total() <= device_bytes) {
      fixes->push_back({what, plan});
      return;
    }
  }
}

// Single changes to the spec that make it fit, each planned: more ranks (ZeRO divides the
// gradients and optimizer state), activation checkpointing, a smaller micro-batch (more
// accumulation keeps the global batch), MoE on every n-th layer only.
std::vector<JobPlan::Change> Fixes(const JobPlan& job) {
  std::vector<JobPlan::Change> fixes;
  const moe::v1::JobSpec& spec = job.spec;
  std::vector<std::tuple<std::string, moe::v1::JobSpec, int>> more_ranks;
  for (int ranks = job.ranks * 2; ranks <= 1024; ranks *= 2) {
    more_ranks.emplace_back(absl::StrCat("resources.world_size: ", ranks, " (", ranks, " GPUs)"),
                            spec, ranks);
  }
  AddFirstThatFits(more_ranks, job.device_bytes, &fixes);
  if (!spec.model().activation_checkpointing()) {
    moe::v1::JobSpec changed = spec;
    changed.mutable_model()->set_activation_checkpointing(true);
    AddFirstThatFits({{"model.activation_checkpointing: true", changed, job.ranks}},
                     job.device_bytes, &fixes);
  }
  std::vector<std::tuple<std::string, moe::v1::JobSpec, int>> smaller;
  const uint32_t micro = spec.training().micro_batch_size();
  for (uint32_t m = micro / 2; m >= 1; m /= 2) {
    moe::v1::JobSpec changed = spec;
    changed.mutable_training()->set_micro_batch_size(m);
    changed.mutable_training()->set_grad_accumulation(spec.training().grad_accumulation() *
                                                      (micro / m));
    smaller.emplace_back(
        absl::StrCat("training.micro_batch_size: ", m, " (grad_accumulation: ",
                     changed.training().grad_accumulation(), " keeps the global batch)"),
        changed, job.ranks);
  }
  AddFirstThatFits(smaller, job.device_bytes, &fixes);
  if (spec.model().moe().experts_size() > 0 &&
      spec.model().moe().layers_case() != moe::v1::MoeSpec::kEveryNLayers) {
    std::vector<std::tuple<std::string, moe::v1::JobSpec, int>> fewer;
    for (uint32_t n : {2u, 4u, 8u}) {
      moe::v1::JobSpec changed = spec;
      changed.mutable_model()->mutable_moe()->set_every_n_layers(n);
      fewer.emplace_back(
          absl::StrCat("model.moe.every_n_layers: ", n, " (MoE on 1 layer in ", n, ")"), changed,
          job.ranks);
    }
    AddFirstThatFits(fewer, job.device_bytes, &fixes);
  }
  return fixes;
}

}  // namespace

absl::StatusOr<JobPlan> PlanJob(moe::v1::JobSpec spec, const PlanOptions& options) {
  RETURN_IF_ERROR(ResolveModel(*spec.mutable_model()));
  JobPlan job;
  job.ranks = options.ranks > 0 ? options.ranks : static_cast<int>(spec.resources().world_size());
  job.parameters = common::CountParameters(spec.model().config(), spec.model().moe());
  job.plan = common::PlanMemoryFromSpec(spec, job.ranks);
  job.device_bytes = options.device_bytes;
  const uint64_t n = static_cast<uint64_t>(job.parameters.total);
  job.checkpoint_bytes = n * (spec.model().precision() == moe::v1::PRECISION_BF16 ? 2 : 4) + n * 12;
  job.verdict = VerdictOf(job.plan.total(), job.device_bytes);
  job.spec = std::move(spec);
  if (job.verdict == Verdict::kDoesNotFit || job.verdict == Verdict::kTight) {
    job.fixes = Fixes(job);
  }
  return job;
}

std::string PlanText(const JobPlan& job) {
  const moe::v1::JobSpec& spec = job.spec;
  std::string out = absl::StrCat(
      spec.name(), ": ", absl::StrFormat("%.3g", job.parameters.total / 1e9), " B parameters (",
      absl::StrFormat("%.3g", job.parameters.active_per_token / 1e9), " B active per token), ",
      spec.model().precision() == moe::v1::PRECISION_BF16 ? "bf16" : "fp32", "; ", job.ranks,
      " rank(s), ZeRO stage ", spec.zero().stage(), "; micro-batch ",
      spec.training().micro_batch_size(), " x ", spec.data().max_seq_len(), " tokens",
      spec.model().activation_checkpointing() ? ", activation checkpointing" : "",
      "\nmemory plan per rank:\n", job.plan.Table(), "\n");
  if (job.verdict == Verdict::kUnknown) {
    absl::StrAppend(&out, "verdict: ", VerdictName(job.verdict), "\n");
  } else {
    const auto [part, bytes] = LargestPart(job.plan);
    absl::StrAppendFormat(&out,
                          "verdict on %.4g GB (%.4g GiB) per device: %s (%.0f%% of it; the "
                          "largest part is %s, %.3g GB)\n",
                          job.device_bytes / 1e9, job.device_bytes / 1073741824.0,
                          VerdictName(job.verdict), 100.0 * job.plan.total() / job.device_bytes,
                          part, bytes / 1e9);
  }
  if (!job.fixes.empty()) {
    absl::StrAppend(&out, "single changes that fit:\n");
    for (const JobPlan::Change& fix : job.fixes) {
      absl::StrAppendFormat(&out, "  %-60s %9.3f GB per rank\n", fix.what, fix.plan.total() / 1e9);
    }
  } else if (job.verdict == Verdict::kDoesNotFit) {
    absl::StrAppend(&out,
                    "no single change of world size, activation checkpointing, micro-batch "
                    "or MoE layers fits\n");
  }
  absl::StrAppendFormat(&out,
                        "checkpoint on disk: %.4g GB (an asynchronous save's host copy: %.4g GB "
                        "per rank on average)",
                        job.checkpoint_bytes / 1e9, job.checkpoint_bytes / 1e9 / job.ranks);
  return out;
}

nlohmann::json PlanJson(const JobPlan& job) {
  auto plan_json = [](const common::MemoryPlan& p) {
    return nlohmann::json{{"parameters", p.parameters},   {"gradients", p.gradients},
                          {"optimizer", p.optimizer},     {"buckets", p.buckets},
                          {"activations", p.activations}, {"total", p.total()}};
  };
  nlohmann::json fixes = nlohmann::json::array();
  for (const JobPlan::Change& fix : job.fixes) {
    fixes.push_back({{"change", fix.what}, {"per_rank", plan_json(fix.plan)}});
  }
  return {{"name", job.spec.name()},
          {"parameters", job.parameters.total},
          {"active_parameters_per_token", job.parameters.active_per_token},
          {"ranks", job.ranks},
          {"per_rank", plan_json(job.plan)},
          {"device_bytes", job.device_bytes},
          {"verdict", VerdictName(job.verdict)},
          {"fixes", fixes},
          {"checkpoint_bytes", job.checkpoint_bytes}};
}

absl::StatusOr<int64_t> ParseBytes(absl::string_view text) {
  const absl::string_view trimmed = absl::StripAsciiWhitespace(text);
  size_t unit_at = trimmed.size();
  while (unit_at > 0 && absl::ascii_isalpha(trimmed[unit_at - 1])) --unit_at;
  const std::string unit = absl::AsciiStrToLower(trimmed.substr(unit_at));
  double number = 0;
  static const std::pair<const char*, double> kUnits[] = {
      {"", 1},      {"b", 1},         {"kb", 1e3},      {"mb", 1e6},      {"gb", 1e9},
      {"tb", 1e12}, {"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1099511627776.0}};
  for (const auto& [name, scale] : kUnits) {
    if (unit == name &&
        absl::SimpleAtod(absl::StripAsciiWhitespace(trimmed.substr(0, unit_at)), &number) &&
        number > 0 && std::isfinite(number) && number * scale < 9e18) {
      return static_cast<int64_t>(number * scale);
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "'", text, "' is not a memory size such as 80GiB, 141GB, 512MiB or a number of bytes"));
}

}  // namespace moe::plan
