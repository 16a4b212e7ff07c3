#include "common/memory_plan.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/model_config.h"

namespace moe::common {
namespace {

int64_t ElementSize(const moe::v1::ModelSpec& model) {
  return model.precision() == moe::v1::PRECISION_BF16 ? 2 : 4;
}

// Elements of the largest single parameter: the embedding [V, D], a dense FFN matrix [F, D],
// or an MoE layer's stacked experts [E, F, D].
int64_t LargestParameter(const moe::v1::MptConfig& c, const moe::v1::MoeSpec& moe) {
  const int64_t d = c.d_model(), f = c.expansion_ratio() * d;
  int64_t largest = std::max<int64_t>(int64_t{c.vocab_size()} * d, f * d);
  if (moe.experts_size() > 0) largest = std::max<int64_t>(largest, moe.experts_size() * f * d);
  return largest;
}

// Activation bytes per token that one block keeps for backward.
int64_t BlockBytesPerToken(const moe::v1::MptConfig& c, const moe::v1::MoeSpec& moe, bool is_moe,
                           int64_t s) {
  const int64_t d = c.d_model(), f = c.expansion_ratio() * d;
  // Input, LN_1 out, Wqkv out (3), attention out, its [B, T, D] copy, x + attn, LN_2 out;
  // both LayerNorms' mean and rstd and the attention's log-sum-exp (fp32).
  int64_t bytes = 9 * d * s + 4 * 4 + c.n_heads() * 4;
  if (!is_moe) return bytes + 2 * f * s;  // up_proj out (GELU's input), GELU out
  const int64_t k = moe.top_k(), e = moe.experts_size();
  // Per assignment: the gathered input, up_proj out, GELU out, the expert output scaled by
  // its weight. The router in fp32: its input (a copy unless the model is fp32), logits,
  // probabilities and the few [N, E] tensors of routing and the auxiliary losses.
  bytes += k * (2 * d + 2 * f) * s;
  bytes += (s == 4 ? 0 : 4 * d) + 8 * e * 4;
  return bytes;
}

}  // namespace

std::string MemoryPlan::Table() const {
  std::string out;
  const auto lines = [&out](std::initializer_list<std::pair<const char*, int64_t>> terms,
                            int64_t sum, const char* total_name) {
    const double all = std::max<double>(sum, 1);
    for (const auto& [name, bytes] : terms) {
      absl::StrAppendFormat(&out, "  %-28s %9.3f GB  %5.1f%%\n", name, bytes / 1e9,
                            100.0 * bytes / all);
    }
    absl::StrAppendFormat(&out, "  %-28s %9.3f GB", total_name, sum / 1e9);
  };
  lines({{"parameters", parameters},
         {"gradients (fp32)", gradients},
         {"optimizer state (fp32)", optimizer},
         {"buckets in flight", buckets},
         {"activations", activations}},
        total(), "device total");
  if (host_total() > 0) {
    out += "\n";
    lines({{"host: offloaded optimizer", host_optimizer},
           {"host: offload staging", host_staging},
           {"host: checkpoint copy", host_checkpoint},
           {"host: model copy (rank 0)", host_model_copy}},
          host_total(), "host total (rank 0)");
  }
  return out;
}

std::pair<const char*, int64_t> MemoryPlan::LargestDeviceTerm() const {
  const std::pair<const char*, int64_t> terms[] = {{"parameters", parameters},
                                                   {"gradients (fp32)", gradients},
                                                   {"optimizer state (fp32)", optimizer},
                                                   {"buckets in flight", buckets},
                                                   {"activations", activations}};
  return *std::max_element(std::begin(terms), std::end(terms),
                           [](const auto& a, const auto& b) { return a.second < b.second; });
}

int64_t ActivationBytes(const moe::v1::MptConfig& c, const moe::v1::MoeSpec& moe, int64_t rows,
                        int64_t seq_len, int64_t s, bool activation_checkpointing) {
  const int64_t n = rows * seq_len, d = c.d_model(), v = c.vocab_size();
  int64_t per_token = 0, largest_block = 0;
  for (uint32_t layer = 0; layer < c.n_layers(); ++layer) {
    const int64_t block = BlockBytesPerToken(c, moe, IsMoeLayer(static_cast<int>(layer), moe), s);
    per_token += activation_checkpointing ? d * s : block;
    largest_block = std::max(largest_block, block);
  }
  if (activation_checkpointing) per_token += largest_block;  // one block recomputed at a time
  // LN_f's output, the logits, their fp32 copy (unless fp32) and log-softmax; then backward's
  // first step holds two fp32 [N, V] gradients beside them. Token ids, labels and routing
  // indices: a few int64 per token.
  per_token += d * s + v * s + (s == 4 ? 0 : 4 * v) + 4 * v + 8 * v + 8 * 8;
  // The attention bias [B, H, T, T] in the model's dtype, shared by every layer.
  const int64_t bias = rows * int64_t{c.n_heads()} * seq_len * seq_len * s;
  return n * per_token + bias;
}

MemoryPlan PlanMemory(const moe::v1::JobSpec& spec, int world_size, int64_t padded_parameters,
                      int64_t bucket_bytes) {
  const moe::v1::MptConfig& config = spec.model().config();
  const int64_t s = ElementSize(spec.model());
  const int64_t range =
      spec.zero().stage() == 2 ? padded_parameters / world_size : padded_parameters;
  MemoryPlan plan;
  plan.parameters = padded_parameters * s;
  if (spec.zero().offload_optimizer() == moe::v1::OFFLOAD_DEVICE_CPU) {
    plan.host_optimizer = 4 * range * 4;
    if (spec.resources().device() != moe::v1::DEVICE_CPU) {
      const int64_t bucket = std::max(BucketElements(spec.zero().bucket_mb()),
                                      LargestParameter(config, spec.model().moe()));
      plan.host_staging = range * s + std::min(bucket, range) * 4;
    }
  } else {
    plan.gradients = range * 4;
    plan.optimizer = 3 * range * 4;
  }
  if (spec.checkpoint().async()) {
    plan.host_checkpoint = 3 * range * 4;
    plan.host_model_copy = padded_parameters * s;
  }
  // ZeRO-2: the buckets, and the .grad of the parameter being stored (model dtype) beside
  // them. Replicated: bucket_bytes is already every parameter's .grad.
  plan.buckets = bucket_bytes +
                 (spec.zero().stage() == 2 ? LargestParameter(config, spec.model().moe()) * s : 0);
  plan.activations =
      ActivationBytes(config, spec.model().moe(), spec.training().micro_batch_size(),
                      spec.data().max_seq_len(), s, spec.model().activation_checkpointing());
  return plan;
}

MemoryPlan PlanMemoryFromSpec(const moe::v1::JobSpec& spec, int world_size) {
  const moe::v1::MptConfig& config = spec.model().config();
  const moe::v1::MoeSpec& moe = spec.model().moe();
  const int64_t padded = (CountParameters(config, moe).total + 2 * world_size - 1) /
                         (2 * world_size) * (2 * world_size);
  int64_t bucket_bytes = 0;
  if (spec.zero().stage() == 2) {
    const int64_t bucket = BucketElements(spec.zero().bucket_mb());
    const int64_t alive = (spec.zero().overlap_comm() ? kMaxBucketsInFlight : 0) + 1;
    bucket_bytes = std::min(padded, alive * std::max(bucket, LargestParameter(config, moe))) * 4;
  } else {
    bucket_bytes = padded * ElementSize(spec.model());
  }
  return PlanMemory(spec, world_size, padded, bucket_bytes);
}

int64_t BucketElements(double bucket_mb) {
  return std::max<int64_t>(static_cast<int64_t>(bucket_mb * (1 << 20) / 4), 1);
}

}  // namespace moe::common
