// Model configuration facts derived from the JobSpec's MptConfig and MoeSpec, and the
// Hugging Face MPT config.json mapping. Needs no LibTorch.
#ifndef MOE_COMMON_MODEL_CONFIG_H_
#define MOE_COMMON_MODEL_CONFIG_H_

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "moe/v1/job.pb.h"
#include "nlohmann/json.hpp"

namespace moe::common {

// Whether FFN layer `layer` (0-based) is an MoE layer: none without experts; all with
// all_layers; with every_n_layers n, layers n-1, 2n-1, ...; with layer_list, those listed.
bool IsMoeLayer(int layer, const moe::v1::MoeSpec& moe);

// The MoE layers of a model of `n_layers` layers, ascending.
std::vector<int> MoeLayers(int n_layers, const moe::v1::MoeSpec& moe);

// InvalidArgument naming model.moe.layer_list when it lists a layer past `n_layers`.
absl::Status CheckMoeLayers(int n_layers, const moe::v1::MoeSpec& moe);

// Whether two MoE specs give a model of `n_layers` layers the same parameters: as many
// experts, on the same layers (however the layers are written).
bool SameMoeLayout(int n_layers, const moe::v1::MoeSpec& a, const moe::v1::MoeSpec& b);

struct ParameterCount {
  int64_t total = 0;
  int64_t active_per_token = 0;  // counts top_k of E experts and the routers
  int64_t embedding = 0;         // wte (tied with the output head)
};

// Counts parameters from the configuration alone (nothing is allocated).
ParameterCount CountParameters(const moe::v1::MptConfig& config, const moe::v1::MoeSpec& moe);

// Reads config.json of the Hugging Face MPT directory `dir` into `config` and `moe`. NotFound
// when it cannot be read, InvalidArgument naming the file when it is not JSON or not an MPT
// configuration this model supports.
absl::Status ReadHfConfig(const std::filesystem::path& dir, moe::v1::MptConfig* config,
                          moe::v1::MoeSpec* moe);

// Reads a Hugging Face MPT config.json (and our "moe" extension) into `config` and `moe`.
// InvalidArgument naming the key for missing fields or MPT features this model does not
// implement (alibi off, qk_ln, clip_qkv, biases, logit_scale, learned positions, ...).
absl::Status MptConfigFromHf(const nlohmann::json& hf, moe::v1::MptConfig* config,
                             moe::v1::MoeSpec* moe);

// The config.json that MptConfigFromHf reads back: Hugging Face MPT keys, plus "moe" (the
// MoeSpec in protobuf's JSON form) when the model has experts.
nlohmann::json MptConfigToHf(const moe::v1::MptConfig& config, const moe::v1::MoeSpec& moe);

// Fills an inline config's unset vocab_size from the tokenizer (rounded up to a multiple of
// 64, as MPT pads 50277 to 50432). InvalidArgument if a set vocab_size is smaller than the
// tokenizer.
absl::Status ResolveVocabSize(int32_t tokenizer_size, moe::v1::MptConfig* config);

}  // namespace moe::common

#endif  // MOE_COMMON_MODEL_CONFIG_H_
