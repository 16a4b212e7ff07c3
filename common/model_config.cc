#include "common/model_config.h"

#include <algorithm>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"

namespace moe::common {

bool IsMoeLayer(int layer, const moe::v1::MoeSpec& moe) {
  if (moe.experts_size() == 0) return false;
  if (moe.layers_case() == moe::v1::MoeSpec::kEveryNLayers) {
    return (layer + 1) % static_cast<int>(moe.every_n_layers()) == 0;
  }
  if (moe.layers_case() == moe::v1::MoeSpec::kLayerList) {
    const auto& list = moe.layer_list().layers();
    return std::find(list.begin(), list.end(), static_cast<uint32_t>(layer)) != list.end();
  }
  return true;
}

std::vector<int> MoeLayers(int n_layers, const moe::v1::MoeSpec& moe) {
  std::vector<int> layers;
  for (int layer = 0; layer < n_layers; ++layer) {
    if (IsMoeLayer(layer, moe)) layers.push_back(layer);
  }
  return layers;
}

absl::Status CheckMoeLayers(int n_layers, const moe::v1::MoeSpec& moe) {
  if (moe.experts_size() == 0 || moe.layers_case() != moe::v1::MoeSpec::kLayerList) {
    return absl::OkStatus();
  }
  for (const uint32_t layer : moe.layer_list().layers()) {
    if (layer >= static_cast<uint32_t>(n_layers)) {
      return absl::InvalidArgumentError(absl::StrCat("model.moe.layer_list.layers: layer ", layer,
                                                     " is past the model's ", n_layers,
                                                     " layers (0-based)"));
    }
  }
  return absl::OkStatus();
}

bool SameMoeLayout(int n_layers, const moe::v1::MoeSpec& a, const moe::v1::MoeSpec& b) {
  return a.experts_size() == b.experts_size() && MoeLayers(n_layers, a) == MoeLayers(n_layers, b);
}

ParameterCount CountParameters(const moe::v1::MptConfig& c, const moe::v1::MoeSpec& moe) {
  const int64_t d = c.d_model(), f = c.expansion_ratio() * d, e = moe.experts_size();
  const int64_t attention = 4 * d * d, norms = 2 * d, ffn = 2 * d * f;
  ParameterCount count;
  count.embedding = static_cast<int64_t>(c.vocab_size()) * d;
  count.total = count.active_per_token = count.embedding + d;  // wte, norm_f
  for (int layer = 0; layer < static_cast<int>(c.n_layers()); ++layer) {
    const bool is_moe = IsMoeLayer(layer, moe);
    count.total += attention + norms + (is_moe ? e * ffn + d * e : ffn);
    count.active_per_token += attention + norms + (is_moe ? moe.top_k() * ffn + d * e : ffn);
  }
  return count;
}

namespace {

absl::Status Unsupported(const std::string& key, const std::string& what) {
  return absl::InvalidArgumentError(
      absl::StrCat("config.json: ", key, ": ", what, " is not supported by this MPT model"));
}

// MptConfigFromHf's body; may throw nlohmann::json::exception on wrongly typed fields.
absl::Status ReadMptConfig(const nlohmann::json& hf, moe::v1::MptConfig* config,
                           moe::v1::MoeSpec* moe) {
  for (const char* key : {"d_model", "n_heads", "n_layers", "vocab_size"}) {
    if (!hf.contains(key) || !hf[key].is_number_integer() || hf[key].get<int64_t>() <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("config.json: \"", key, "\" must be a positive integer"));
    }
  }
  if (hf.value("model_type", "mpt") != "mpt") {
    return Unsupported("model_type", hf["model_type"].dump());
  }
  if (!hf.value("no_bias", true)) return Unsupported("no_bias", "false (biases)");
  if (!hf.value("tie_word_embeddings", true)) {
    return Unsupported("tie_word_embeddings", "false (an lm_head of its own)");
  }
  if (hf.contains("logit_scale") && !hf["logit_scale"].is_null())
    return Unsupported("logit_scale", "a value");
  const nlohmann::json attn = hf.value("attn_config", nlohmann::json::object());
  if (!attn.value("alibi", true)) return Unsupported("attn_config.alibi", "false");
  if (attn.value("qk_ln", false)) return Unsupported("attn_config.qk_ln", "true");
  if (attn.contains("clip_qkv") && !attn["clip_qkv"].is_null())
    return Unsupported("attn_config.clip_qkv", "a value");
  if (attn.contains("softmax_scale") && !attn["softmax_scale"].is_null()) {
    return Unsupported("attn_config.softmax_scale", "a value");
  }
  config->set_d_model(hf["d_model"].get<uint32_t>());
  config->set_n_heads(hf["n_heads"].get<uint32_t>());
  config->set_n_layers(hf["n_layers"].get<uint32_t>());
  config->set_vocab_size(hf["vocab_size"].get<uint32_t>());
  config->set_expansion_ratio(hf.value("expansion_ratio", 4u));
  config->set_max_seq_len(hf.value("max_seq_len", 2048u));
  config->set_alibi_bias_max(attn.value("alibi_bias_max", 8.0));
  // transformers' MptConfig names it layer_norm_epsilon; exports before it said layer_norm_eps.
  config->set_layer_norm_eps(hf.value("layer_norm_epsilon", hf.value("layer_norm_eps", 1e-5)));
  if (config->d_model() % config->n_heads() != 0) {
    return absl::InvalidArgumentError("config.json: n_heads must divide d_model");
  }
  if (hf.contains("moe")) {
    const auto status = google::protobuf::util::JsonStringToMessage(hf["moe"].dump(), moe);
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("config.json: moe: ", std::string(status.message())));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status MptConfigFromHf(const nlohmann::json& hf, moe::v1::MptConfig* config,
                             moe::v1::MoeSpec* moe) {
  try {
    return ReadMptConfig(hf, config, moe);
  } catch (const nlohmann::json::exception& e) {  // a field of the wrong JSON type
    return absl::InvalidArgumentError(absl::StrCat("config.json: ", e.what()));
  }
}

nlohmann::json MptConfigToHf(const moe::v1::MptConfig& c, const moe::v1::MoeSpec& moe) {
  nlohmann::json hf = {
      {"architectures", {"MPTForCausalLM"}},
      {"model_type", "mpt"},
      {"d_model", c.d_model()},
      {"n_heads", c.n_heads()},
      {"n_layers", c.n_layers()},
      {"expansion_ratio", c.expansion_ratio()},
      {"max_seq_len", c.max_seq_len()},
      {"vocab_size", c.vocab_size()},
      {"no_bias", true},
      {"norm_type", "low_precision_layernorm"},
      {"layer_norm_epsilon", c.layer_norm_eps()},
      {"logit_scale", nullptr},
      {"emb_pdrop", 0},
      {"resid_pdrop", 0},
      {"learned_pos_emb", true},
      {"attn_config",
       {{"alibi", true},
        {"alibi_bias_max", c.alibi_bias_max()},
        {"attn_impl", "torch"},
        {"attn_pdrop", 0},
        {"attn_type", "multihead_attention"},
        {"clip_qkv", nullptr},
        {"qk_ln", false},
        {"softmax_scale", nullptr}}},
  };
  if (moe.experts_size() > 0) {
    std::string json;
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    // Printing a valid message to JSON cannot fail.
    (void)google::protobuf::util::MessageToJsonString(moe, &json, options);
    hf["moe"] = nlohmann::json::parse(json);
  }
  return hf;
}

absl::Status ResolveVocabSize(int32_t tokenizer_size, moe::v1::MptConfig* config) {
  if (!config->has_vocab_size()) {
    config->set_vocab_size(static_cast<uint32_t>((tokenizer_size + 63) / 64 * 64));
    return absl::OkStatus();
  }
  if (static_cast<int64_t>(config->vocab_size()) < tokenizer_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("model.config.vocab_size (", config->vocab_size(),
                     ") is smaller than the tokenizer (", tokenizer_size, " ids)"));
  }
  return absl::OkStatus();
}

absl::Status ReadHfConfig(const std::filesystem::path& dir, moe::v1::MptConfig* config,
                          moe::v1::MoeSpec* moe) {
  const std::filesystem::path path = dir / "config.json";
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path.string(), ": cannot read"));
  const nlohmann::json json = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(path.string(), ": not valid JSON"));
  }
  const absl::Status status = MptConfigFromHf(json, config, moe);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(dir.string(), "/", status.message()));
  }
  return absl::OkStatus();
}

}  // namespace moe::common
