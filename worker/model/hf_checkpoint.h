// Hugging Face MPT directories: config.json plus weights as model.safetensors, sharded
// safetensors (model.safetensors.index.json), or pytorch_model*.bin (what mosaicml/mpt-7b
// ships, read with LibTorch's pickle loader). Dense tensors keep the Hugging Face MPT names;
// MoE layers are stored per expert as
//   transformer.blocks.{i}.ffn.experts.{e}.up_proj.weight    [F, D]
//   transformer.blocks.{i}.ffn.experts.{e}.down_proj.weight  [D, F]
//   transformer.blocks.{i}.ffn.router.weight                 [E, D]
// and config.json carries the MoE settings under "moe".
#ifndef MOE_WORKER_MODEL_HF_CHECKPOINT_H_
#define MOE_WORKER_MODEL_HF_CHECKPOINT_H_

#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "moe/v1/job.pb.h"
#include "worker/model/mpt_model.h"

namespace moe::worker {

using TensorMap = std::map<std::string, torch::Tensor>;

// The model's tensors under their stored names (views into the parameters; expert tensors
// split per expert), in a fixed order.
std::vector<std::pair<std::string, torch::Tensor>> StoredTensors(MptForCausalLM& model);

// Reads every weight tensor of `dir` (any of the three layouts). Safetensors come as views of
// the mapped files (nothing is read until a tensor is copied from); pickles are read whole.
absl::StatusOr<TensorMap> ReadHfWeights(const std::filesystem::path& dir);

// Copies `weights` into `model`, converting dtypes. Every stored name must be present with its
// exact shape and no extra name may remain, except when `upcycle` is set: then each MoE
// layer's experts are copied from the dense FFN (`...ffn.up_proj.weight`,
// `...ffn.down_proj.weight`) plus N(0, noise_std) noise, and its router keeps its fresh
// initialisation. InvalidArgument lists the missing, unexpected and mis-shaped names.
absl::Status LoadWeights(const TensorMap& weights, bool upcycle, double noise_std,
                         MptForCausalLM& model);

// Writes config.json and model.safetensors into `dir` (created if needed).
absl::Status SaveHfModel(MptForCausalLM& model, const std::filesystem::path& dir);

// Builds a model from a job's model spec: an inline config gets random initialisation
// (llm-foundry's scheme, `seed`); a Hugging Face directory is loaded, and upcycled when it is
// dense and the spec asks for experts. `tokenizer_size` fills an unset vocab_size. The model is
// created on `options`' device in its dtype, and weights stream into it tensor by tensor.
absl::StatusOr<MptForCausalLM> BuildModel(const moe::v1::ModelSpec& spec, int32_t tokenizer_size,
                                          uint64_t seed, const torch::TensorOptions& options = {});

}  // namespace moe::worker

#endif  // MOE_WORKER_MODEL_HF_CHECKPOINT_H_
