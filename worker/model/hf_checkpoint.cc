#include "worker/model/hf_checkpoint.h"

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/model_config.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "worker/model/safetensors.h"

namespace moe::worker {
namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

absl::StatusOr<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path.string(), ": cannot read"));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::StatusOr<Json> ReadJson(const fs::path& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  Json json = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded())
    return absl::InvalidArgumentError(absl::StrCat(path.string(), ": not valid JSON"));
  return json;
}

absl::Status ReadSafetensors(const fs::path& path, TensorMap* out) {
  ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(path));
  for (const auto& [name, entry] : file->entries()) {
    ASSIGN_OR_RETURN((*out)[name], file->Load(name));
  }
  return absl::OkStatus();
}

// A PyTorch pickle (torch.save of a state dict), as pytorch_model*.bin files are.
absl::Status ReadTorchPickle(const fs::path& path, TensorMap* out) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  try {
    const torch::IValue value = torch::pickle_load(std::vector<char>(text.begin(), text.end()));
    if (!value.isGenericDict()) {
      return absl::InvalidArgumentError(absl::StrCat(path.string(), ": not a state dict"));
    }
    for (const auto& item : value.toGenericDict()) {
      if (!item.key().isString() || !item.value().isTensor()) continue;  // e.g. metadata
      (*out)[item.key().toStringRef()] = item.value().toTensor();
    }
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(path.string(), ": cannot read PyTorch pickle: ", e.what_without_backtrace()));
  }
  return absl::OkStatus();
}

// The shard files named by an index file's weight_map, in order.
absl::StatusOr<std::vector<fs::path>> Shards(const fs::path& index) {
  ASSIGN_OR_RETURN(Json json, ReadJson(index));
  if (!json.contains("weight_map") || !json["weight_map"].is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(index.string(), ": no \"weight_map\" object"));
  }
  std::set<std::string> files;
  for (const auto& [name, file] : json["weight_map"].items()) {
    if (!file.is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(index.string(), ": weight_map[\"", name, "\"] is not a file name"));
    }
    files.insert(file.get<std::string>());
  }
  std::vector<fs::path> paths;
  for (const std::string& f : files) paths.push_back(index.parent_path() / f);
  return paths;
}

// The dense FFN tensor an expert tensor is upcycled from:
// "....ffn.experts.3.up_proj.weight" -> "....ffn.up_proj.weight".
std::string DenseSource(const std::string& expert_name) {
  const size_t at = expert_name.find(".ffn.experts.");
  const size_t after = expert_name.find('.', at + 13);
  return expert_name.substr(0, at) + ".ffn" + expert_name.substr(after);
}

}  // namespace

std::vector<std::pair<std::string, torch::Tensor>> StoredTensors(MptForCausalLM& model) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : model->named_parameters()) {
    const std::string& name = item.key();
    if (!absl::StrContains(name, ".ffn.experts.")) {
      out.emplace_back(name, item.value());
      continue;
    }
    // "...ffn.experts.up_proj" [E, F, D] -> "...ffn.experts.{e}.up_proj.weight" [F, D]
    const size_t dot = name.rfind('.');
    for (int64_t e = 0; e < item.value().size(0); ++e) {
      out.emplace_back(absl::StrCat(name.substr(0, dot), ".", e, name.substr(dot), ".weight"),
                       item.value()[e]);
    }
  }
  return out;
}

absl::StatusOr<TensorMap> ReadHfWeights(const fs::path& dir) {
  TensorMap weights;
  if (fs::exists(dir / "model.safetensors")) {
    RETURN_IF_ERROR(ReadSafetensors(dir / "model.safetensors", &weights));
  } else if (fs::exists(dir / "model.safetensors.index.json")) {
    ASSIGN_OR_RETURN(auto shards, Shards(dir / "model.safetensors.index.json"));
    for (const fs::path& shard : shards) RETURN_IF_ERROR(ReadSafetensors(shard, &weights));
  } else if (fs::exists(dir / "pytorch_model.bin")) {
    RETURN_IF_ERROR(ReadTorchPickle(dir / "pytorch_model.bin", &weights));
  } else if (fs::exists(dir / "pytorch_model.bin.index.json")) {
    ASSIGN_OR_RETURN(auto shards, Shards(dir / "pytorch_model.bin.index.json"));
    for (const fs::path& shard : shards) RETURN_IF_ERROR(ReadTorchPickle(shard, &weights));
  } else {
    return absl::NotFoundError(
        absl::StrCat(dir.string(),
                     ": no weights (model.safetensors, model.safetensors.index.json, "
                     "pytorch_model.bin or pytorch_model.bin.index.json)"));
  }
  return weights;
}

absl::Status LoadWeights(const TensorMap& weights, bool upcycle, double noise_std,
                         MptForCausalLM& model) {
  torch::NoGradGuard no_grad;
  std::set<std::string> unused;
  for (const auto& [name, t] : weights) unused.insert(name);
  std::vector<std::string> missing, misshaped;
  for (auto& [name, target] : StoredTensors(model)) {
    std::string source = name;
    if (upcycle && !weights.count(name)) {
      if (absl::StrContains(name, ".ffn.router.")) continue;  // fresh router
      if (absl::StrContains(name, ".ffn.experts.")) source = DenseSource(name);
    }
    const auto it = weights.find(source);
    if (it == weights.end()) {
      missing.push_back(name);
      continue;
    }
    unused.erase(source);
    if (it->second.sizes() != target.sizes()) {
      misshaped.push_back(absl::StrCat(source, " has shape ", c10::str(it->second.sizes()),
                                       ", the model needs ", c10::str(target.sizes())));
      continue;
    }
    target.copy_(it->second);  // from the mapped file straight to the parameter's device
    if (source != name && noise_std > 0) {  // drawn on the CPU: the same on every device
      target.add_(
          torch::randn(target.sizes(), torch::kFloat32).mul_(noise_std).to(target.device()));
    }
  }
  // A tied lm_head written out anyway (transformers' .bin files hold it) is the embedding.
  if (const auto head = weights.find("lm_head.weight"),
      wte = weights.find("transformer.wte.weight");
      head != weights.end() && wte != weights.end() && torch::equal(head->second, wte->second)) {
    unused.erase("lm_head.weight");
  }
  if (missing.empty() && misshaped.empty() && unused.empty()) return absl::OkStatus();
  std::vector<std::string> problems;
  if (!missing.empty()) problems.push_back(absl::StrCat("missing: ", absl::StrJoin(missing, ", ")));
  if (!unused.empty())
    problems.push_back(absl::StrCat("unexpected: ", absl::StrJoin(unused, ", ")));
  for (const std::string& m : misshaped) problems.push_back(m);
  return absl::InvalidArgumentError(
      absl::StrCat("weights do not match the model:\n  ", absl::StrJoin(problems, "\n  ")));
}

absl::Status SaveHfModel(MptForCausalLM& model, const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat(dir.string(), ": ", ec.message()));
  std::ofstream config(dir / "config.json");
  config << common::MptConfigToHf(model->config(), model->moe_spec()).dump(2) << '\n';
  config.close();
  if (!config) return absl::InternalError(absl::StrCat(dir.string(), "/config.json: write failed"));
  return WriteSafetensors(dir / "model.safetensors", StoredTensors(model), {{"format", "pt"}})
      .status();
}

absl::StatusOr<MptForCausalLM> BuildModel(const moe::v1::ModelSpec& spec, int32_t tokenizer_size,
                                          uint64_t seed, const torch::TensorOptions& options) {
  if (spec.has_config()) {
    moe::v1::MptConfig config = spec.config();
    RETURN_IF_ERROR(common::ResolveVocabSize(tokenizer_size, &config));
    MptForCausalLM model(config, spec.moe(), options);
    model->InitializeWeights(seed);
    model->SetActivationCheckpointing(spec.activation_checkpointing());
    return model;
  }
  const fs::path dir = spec.hf_path();
  moe::v1::MptConfig config;
  moe::v1::MoeSpec stored;
  RETURN_IF_ERROR(common::ReadHfConfig(dir, &config, &stored));
  RETURN_IF_ERROR(common::CheckMoeLayers(static_cast<int>(config.n_layers()), spec.moe()));
  const bool upcycle = stored.experts_size() == 0 && spec.moe().experts_size() > 0;
  if (stored.experts_size() > 0 &&
      !common::SameMoeLayout(static_cast<int>(config.n_layers()), stored, spec.moe())) {
    return absl::InvalidArgumentError(absl::StrCat(
        dir.string(), ": its MoE layout (", stored.experts_size(),
        " experts) differs from model.moe in the job spec; use the same experts and layers"));
  }
  if (static_cast<int64_t>(config.vocab_size()) < tokenizer_size) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir.string(), ": vocab_size ", config.vocab_size(),
                     " is smaller than the tokenizer (", tokenizer_size, ")"));
  }
  MptForCausalLM model(config, spec.moe(), options);
  model->InitializeWeights(seed);  // routers of an upcycled model keep this
  ASSIGN_OR_RETURN(TensorMap weights, ReadHfWeights(dir));
  torch::manual_seed(seed);
  RETURN_IF_ERROR(LoadWeights(weights, upcycle, spec.moe().upcycle_noise(), model));
  model->SetActivationCheckpointing(spec.activation_checkpointing());
  return model;
}

}  // namespace moe::worker
