#include "worker/data/tokenizer.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "worker/data/byte_level.h"

namespace moe::worker {
namespace {

using Json = nlohmann::json;

absl::Status InFile(absl::string_view source, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(source, ": ", status.message()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path.string(), ": cannot read tokenizer"));
  std::stringstream text;
  text << in.rdbuf();
  return FromJson(text.str(), path.string());
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromJson(absl::string_view json_text,
                                                               absl::string_view source) {
  Json json;
  try {
    json = Json::parse(json_text.begin(), json_text.end());
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not valid JSON: ", e.what()));
  }
  if (!json.is_object() || !json.contains("model")) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": not a Hugging Face tokenizer.json (no \"model\")"));
  }
  auto tok = std::unique_ptr<Tokenizer>(new Tokenizer());
  const auto part = [&](const char* key) { return json.contains(key) ? json[key] : Json(); };
  try {
    auto normalizer = Normalizer::FromJson(part("normalizer"));
    if (!normalizer.ok()) return InFile(source, normalizer.status());
    tok->normalizer_ = *std::move(normalizer);
    auto added = AddedTokens::FromJson(part("added_tokens"), tok->normalizer_);
    if (!added.ok()) return InFile(source, added.status());
    tok->added_ = *std::move(added);
    auto pre = PreTokenizer::FromJson(part("pre_tokenizer"));
    if (!pre.ok()) return InFile(source, pre.status());
    tok->pre_tokenizer_ = *std::move(pre);
    auto model = BpeModel::FromJson(json["model"]);
    if (!model.ok()) return InFile(source, model.status());
    tok->model_ = *std::move(model);
    auto decoder = Decoder::FromJson(part("decoder"));
    if (!decoder.ok()) return InFile(source, decoder.status());
    tok->decoder_ = *std::move(decoder);
  } catch (const Json::exception& e) {  // a field of the wrong JSON type
    return absl::InvalidArgumentError(absl::StrCat(source, ": malformed tokenizer: ", e.what()));
  }
  tok->size_ = tok->model_->max_id() + 1;
  for (const Json& t : part("added_tokens")) {
    tok->size_ = std::max(tok->size_, t.value("id", 0) + 1);
  }
  return tok;
}

std::vector<int32_t> Tokenizer::Encode(absl::string_view text) const {
  std::vector<int32_t> ids;
  Encode(text, &ids);
  return ids;
}

void Tokenizer::Encode(absl::string_view text, std::vector<int32_t>* ids) const {
  std::string repaired;
  if (!common::IsValidUtf8(text)) {
    common::RepairUtf8(text, &repaired);
    text = repaired;
  }
  // Added tokens as written first; then, in the normalised text between them, the normalised
  // ones; then the model on what is left.
  const auto on_token = [&](int32_t id) { ids->push_back(id); };
  std::string normalized;
  added_.Split(
      text, /*normalized=*/false,
      [&](absl::string_view raw) {
        normalizer_.Apply(raw, &normalized);
        added_.Split(
            normalized, /*normalized=*/true,
            [&](absl::string_view stretch) {
              const bool at_start =
                  raw.data() == text.data() && stretch.data() == normalized.data();
              EncodeOrdinary(stretch, at_start, ids);
            },
            on_token);
      },
      on_token);
}

void Tokenizer::EncodeOrdinary(absl::string_view text, bool at_start,
                               std::vector<int32_t>* ids) const {
  std::string rewritten;
  if (pre_tokenizer_->Rewrite(text, at_start, &rewritten)) {
    text = rewritten;
  } else if (pre_tokenizer_->add_prefix_space() && text[0] != ' ') {
    rewritten = absl::StrCat(" ", text);
    text = rewritten;
  }
  std::vector<absl::string_view> pieces;
  pre_tokenizer_->Split(text, &pieces);
  for (absl::string_view piece : pieces) EncodePiece(piece, ids);
}

void Tokenizer::EncodePiece(absl::string_view piece, std::vector<int32_t>* ids) const {
  {
    absl::ReaderMutexLock lock(&cache_mu_);
    if (const auto it = cache_.find(piece); it != cache_.end()) {
      ids->insert(ids->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> piece_ids;
  if (pre_tokenizer_->byte_level()) {
    std::string mapped;
    ByteLevel::Get().Encode(piece, &mapped);
    model_->Encode(mapped, &piece_ids);
  } else {
    model_->Encode(piece, &piece_ids);
  }
  ids->insert(ids->end(), piece_ids.begin(), piece_ids.end());
  absl::MutexLock lock(&cache_mu_);
  if (cache_.size() >= kCacheCapacity) cache_.clear();
  cache_.emplace(piece, std::move(piece_ids));
}

absl::StatusOr<std::string> Tokenizer::Decode(absl::Span<const int32_t> ids) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    const std::string* token = added_.IdToToken(id);
    if (token == nullptr) token = model_->IdToToken(id);
    if (token == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("decode: id ", id, " is not in the tokenizer"));
    }
    tokens.push_back(*token);
  }
  std::string bytes = decoder_.Decode(std::move(tokens));
  if (common::IsValidUtf8(bytes)) return bytes;
  std::string text;
  common::RepairUtf8(bytes, &text);
  return text;
}

std::optional<int32_t> Tokenizer::TokenToId(absl::string_view token) const {
  if (auto id = added_.TokenToId(token)) return id;
  return model_->TokenToId(token);
}

}  // namespace moe::worker
