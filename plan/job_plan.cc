#include "plan/job_plan.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

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

absl::Status ResolveModel(moe::v1::ModelSpec& model, const std::string& model_dir) {
  if (!model_dir.empty()) model.set_hf_path(model_dir);
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
  RETURN_IF_ERROR(common::CheckMoeLayers(static_cast<int>(config.n_layers()), model.moe()));
  *model.mutable_config() = config;  // (clears hf_path: the plan needs only the shapes)
  return absl::OkStatus();
}

Verdict VerdictOf(int64_t need, int64_t memory) {
  if (memory <= 0) return Verdict::kUnknown;
  if (need > memory) return Verdict::kDoesNotFit;
  return need > (1 - kTightShare) * memory ? Verdict::kTight : Verdict::kFits;
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
      return "unknown (no device or host memory given)";
  }
}

int RanksPerNode(const moe::v1::JobSpec& spec, int ranks) {
  const moe::v1::SlurmSpec& slurm = spec.resources().slurm();
  if (spec.resources().launcher() != moe::v1::LAUNCHER_SLURM) return ranks;
  if (slurm.gpus_per_node() > 0) return std::min<int>(ranks, slurm.gpus_per_node());
  const int nodes = std::max<int>(slurm.nodes(), 1);
  return (ranks + nodes - 1) / nodes;
}

// The verdict of `plan` for `job`'s machines: the worse of the GPU's and the node's.
struct Check {
  Verdict verdict = Verdict::kUnknown;
  std::string limit;
  int64_t need = 0, memory = 0;
};
Check CheckPlan(const JobPlan& job, const common::MemoryPlan& plan, int ranks) {
  const int per_node = std::min(job.ranks_per_node, ranks);
  std::vector<Check> checks;
  if (job.cpu) {
    const int64_t node = per_node * plan.total() + plan.HostPerNode(per_node);
    checks.push_back({VerdictOf(node, job.host_bytes), "per node", node, job.host_bytes});
  } else {
    checks.push_back(
        {VerdictOf(plan.total(), job.device_bytes), "per GPU", plan.total(), job.device_bytes});
    const int64_t node = plan.HostPerNode(per_node);
    checks.push_back(
        {VerdictOf(node, job.host_bytes), "host memory per node", node, job.host_bytes});
  }
  // kDoesNotFit > kTight > kFits > kUnknown.
  return *std::max_element(checks.begin(), checks.end(), [](const Check& a, const Check& b) {
    return static_cast<int>(a.verdict) < static_cast<int>(b.verdict);
  });
}

bool Fits(const JobPlan& job, const common::MemoryPlan& plan, int ranks) {
  const Verdict v = CheckPlan(job, plan, ranks).verdict;
  return v == Verdict::kFits || v == Verdict::kTight;
}

// The first of `candidates` (a change's description and the spec and ranks it gives) that
// fits, if any.
void AddFirstThatFits(const JobPlan& job,
                      const std::vector<std::tuple<std::string, moe::v1::JobSpec, int>>& candidates,
                      std::vector<JobPlan::Change>* fixes) {
  for (const auto& [what, spec, ranks] : candidates) {
    const common::MemoryPlan plan = common::PlanMemoryFromSpec(spec, ranks);
    if (Fits(job, plan, ranks)) {
      fixes->push_back({what, plan, ranks});
      return;
    }
  }
}

// Single changes to the spec that make it fit, each planned, cheapest first: activation
// checkpointing (a third more compute), a smaller micro-batch (more accumulation keeps the
// global batch), the optimizer offloaded to the CPU (host memory and a host step), more GPUs
// (ZeRO divides the gradients and optimizer state), MoE on fewer layers (a smaller model).
std::vector<JobPlan::Change> Fixes(const JobPlan& job) {
  std::vector<JobPlan::Change> fixes;
  const moe::v1::JobSpec& spec = job.spec;
  if (!spec.model().activation_checkpointing()) {
    moe::v1::JobSpec changed = spec;
    changed.mutable_model()->set_activation_checkpointing(true);
    AddFirstThatFits(job, {{"model.activation_checkpointing: true", changed, job.ranks}}, &fixes);
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
  AddFirstThatFits(job, smaller, &fixes);
  if (spec.zero().offload_optimizer() != moe::v1::OFFLOAD_DEVICE_CPU) {
    moe::v1::JobSpec changed = spec;
    changed.mutable_zero()->set_stage(2);
    changed.mutable_zero()->set_offload_optimizer(moe::v1::OFFLOAD_DEVICE_CPU);
    AddFirstThatFits(job,
                     {{spec.zero().stage() == 2 ? "zero.offload_optimizer: cpu"
                                                : "zero.stage: 2, zero.offload_optimizer: cpu",
                       changed, job.ranks}},
                     &fixes);
  }
  std::vector<std::tuple<std::string, moe::v1::JobSpec, int>> more_ranks;
  for (int ranks = job.ranks * 2; ranks <= 1024; ranks *= 2) {
    more_ranks.emplace_back(absl::StrCat("resources.world_size: ", ranks, " (", ranks, " GPUs)"),
                            spec, ranks);
  }
  AddFirstThatFits(job, more_ranks, &fixes);
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
    AddFirstThatFits(job, fewer, &fixes);
  }
  return fixes;
}

// "47.3 GB per GPU" or, for a CPU job, the node's total.
std::string NeedOf(const JobPlan& job, const common::MemoryPlan& plan, int ranks) {
  const Check check = CheckPlan(job, plan, ranks);
  return absl::StrFormat("%.4g GB %s", check.need / 1e9, check.limit);
}

}  // namespace

absl::StatusOr<JobPlan> PlanJob(moe::v1::JobSpec spec, const PlanOptions& options) {
  RETURN_IF_ERROR(ResolveModel(*spec.mutable_model(), options.model_dir));
  JobPlan job;
  job.ranks = options.ranks > 0 ? options.ranks : static_cast<int>(spec.resources().world_size());
  job.cpu = spec.resources().device() == moe::v1::DEVICE_CPU;
  job.ranks_per_node = RanksPerNode(spec, job.ranks);
  job.parameters = common::CountParameters(spec.model().config(), spec.model().moe());
  job.plan = common::PlanMemoryFromSpec(spec, job.ranks);
  job.device_bytes = options.device_bytes;
  job.host_bytes = options.host_bytes;
  const uint64_t n = static_cast<uint64_t>(job.parameters.total);
  job.checkpoint_bytes = n * (spec.model().precision() == moe::v1::PRECISION_BF16 ? 2 : 4) + n * 12;
  job.spec = std::move(spec);
  const Check check = CheckPlan(job, job.plan, job.ranks);
  job.verdict = check.verdict;
  job.limit = check.limit;
  job.need = check.need;
  job.memory = check.memory;
  if (job.verdict == Verdict::kDoesNotFit || job.verdict == Verdict::kTight) {
    job.fixes = Fixes(job);
  }
  return job;
}

std::string PlanText(const JobPlan& job) {
  const moe::v1::JobSpec& spec = job.spec;
  const bool offload = spec.zero().offload_optimizer() == moe::v1::OFFLOAD_DEVICE_CPU;
  std::string out = absl::StrCat(
      spec.name(), ": ", absl::StrFormat("%.3g", job.parameters.total / 1e9), " B parameters (",
      absl::StrFormat("%.3g", job.parameters.active_per_token / 1e9), " B active per token), ",
      spec.model().precision() == moe::v1::PRECISION_BF16 ? "bf16" : "fp32", "; ", job.ranks,
      " rank(s)", job.cpu ? " on CPUs" : "", ", ", job.ranks_per_node, " per node, ZeRO stage ",
      spec.zero().stage(), offload ? " with the optimizer offloaded to the CPU" : "",
      "; micro-batch ", spec.training().micro_batch_size(), " x ", spec.data().max_seq_len(),
      " tokens", spec.model().activation_checkpointing() ? ", activation checkpointing" : "",
      "\nmemory plan per rank:\n", job.plan.Table(), "\n");
  absl::StrAppendFormat(&out, "host memory per node (%d rank(s)): %.4g GB\n", job.ranks_per_node,
                        (job.cpu ? job.ranks_per_node * job.plan.total() : 0) / 1e9 +
                            job.plan.HostPerNode(job.ranks_per_node) / 1e9);
  if (job.verdict == Verdict::kUnknown) {
    absl::StrAppend(&out, "verdict: ", VerdictName(job.verdict), "\n");
  } else {
    const auto [part, bytes] = job.plan.LargestDeviceTerm();
    absl::StrAppendFormat(&out,
                          "verdict: %s, %.4g GB %s of %.4g GB (%.4g GiB), %.0f%%, headroom %.4g "
                          "GB (the largest device term is %s, %.4g GB)\n",
                          VerdictName(job.verdict), job.need / 1e9, job.limit, job.memory / 1e9,
                          job.memory / 1073741824.0, 100.0 * job.need / job.memory,
                          (job.memory - job.need) / 1e9, part, bytes / 1e9);
  }
  if (!job.fixes.empty()) {
    absl::StrAppend(&out, "single changes that fit, cheapest first:\n");
    for (const JobPlan::Change& fix : job.fixes) {
      absl::StrAppendFormat(&out, "  %-62s %s, host %.4g GB per node\n", fix.what,
                            NeedOf(job, fix.plan, fix.ranks),
                            fix.plan.HostPerNode(std::min(job.ranks_per_node, fix.ranks)) / 1e9);
    }
  } else if (job.verdict == Verdict::kDoesNotFit) {
    absl::StrAppend(&out,
                    "no single change of activation checkpointing, micro-batch, optimizer "
                    "offload, world size or MoE layers fits\n");
  }
  absl::StrAppendFormat(&out, "checkpoint on disk: %.4g GB", job.checkpoint_bytes / 1e9);
  return out;
}

nlohmann::json PlanJson(const JobPlan& job) {
  auto plan_json = [](const common::MemoryPlan& p) {
    return nlohmann::json{{"parameters", p.parameters},
                          {"gradients", p.gradients},
                          {"optimizer", p.optimizer},
                          {"buckets", p.buckets},
                          {"activations", p.activations},
                          {"total", p.total()},
                          {"host_optimizer", p.host_optimizer},
                          {"host_staging", p.host_staging},
                          {"host_checkpoint", p.host_checkpoint},
                          {"host_model_copy", p.host_model_copy},
                          {"host_total", p.host_total()}};
  };
  nlohmann::json fixes = nlohmann::json::array();
  for (const JobPlan::Change& fix : job.fixes) {
    fixes.push_back({{"change", fix.what}, {"per_rank", plan_json(fix.plan)}});
  }
  return {{"name", job.spec.name()},
          {"parameters", job.parameters.total},
          {"active_parameters_per_token", job.parameters.active_per_token},
          {"ranks", job.ranks},
          {"ranks_per_node", job.ranks_per_node},
          {"per_rank", plan_json(job.plan)},
          {"host_per_node", job.plan.HostPerNode(job.ranks_per_node)},
          {"device_bytes", job.device_bytes},
          {"host_bytes", job.host_bytes},
          {"verdict", VerdictName(job.verdict)},
          {"limit", job.limit},
          {"need", job.need},
          {"headroom", job.memory > 0 ? job.memory - job.need : 0},
          {"fixes", fixes},
          {"checkpoint_bytes", job.checkpoint_bytes}};
}

std::string PlanSummary(const JobPlan& job) {
  const auto [part, bytes] = job.plan.LargestDeviceTerm();
  std::string out = absl::StrFormat("needs %.4g GB %s", job.need / 1e9, job.limit);
  if (job.memory > 0) absl::StrAppendFormat(&out, ", which has %.4g GB", job.memory / 1e9);
  absl::StrAppendFormat(&out, " (the largest device term: %s, %.4g GB)", part, bytes / 1e9);
  if (!job.fixes.empty()) {
    absl::StrAppend(&out, "; changes that fit: ");
    for (size_t i = 0; i < job.fixes.size(); ++i) {
      absl::StrAppend(&out, i > 0 ? "; " : "", job.fixes[i].what, " (",
                      NeedOf(job, job.fixes[i].plan, job.fixes[i].ranks), ")");
    }
  } else if (job.verdict == Verdict::kDoesNotFit) {
    absl::StrAppend(&out, "; no single change fits (see moectl plan)");
  }
  return out;
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
