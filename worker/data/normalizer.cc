#include "worker/data/normalizer.h"

#include <cstdlib>

#include "absl/algorithm/container.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "nlohmann/json.hpp"
#include "utf8proc.h"

namespace moe::worker {

absl::StatusOr<Normalizer::Stage> Normalizer::StageFromJson(const nlohmann::json& config,
                                                            const std::string& path) {
  const std::string type = config.value("type", "");
  Stage stage{Stage::kUnicode};
  if (type == "NFC") {
    stage.utf8proc_options = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
  } else if (type == "NFD") {
    stage.utf8proc_options = UTF8PROC_STABLE | UTF8PROC_DECOMPOSE;
  } else if (type == "NFKC") {
    stage.utf8proc_options = UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
  } else if (type == "NFKD") {
    stage.utf8proc_options = UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
  } else if (type == "Prepend") {
    stage = Stage{Stage::kPrepend, 0, "", config.at("prepend").get<std::string>()};
  } else if (type == "Replace") {
    const nlohmann::json& pattern = config.at("pattern");
    if (!pattern.contains("String")) {
      return absl::InvalidArgumentError(
          absl::StrCat("tokenizer ", path, ".pattern: a Regex is not supported (a String is)"));
    }
    stage = Stage{Stage::kReplace, 0, pattern.at("String").get<std::string>(),
                  config.at("content").get<std::string>()};
    if (stage.pattern.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("tokenizer ", path, ".pattern: an empty String"));
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "tokenizer ", path, ".type: '", type,
        "' is not supported (use NFC, NFD, NFKC, NFKD, Prepend, Replace or a Sequence of them)"));
  }
  return stage;
}

absl::StatusOr<Normalizer> Normalizer::FromJson(const nlohmann::json& config) {
  Normalizer out;
  if (config.is_null()) return out;
  const std::string type = config.value("type", "");
  const nlohmann::json list =
      type == "Sequence" ? config.at("normalizers") : nlohmann::json::array({config});
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string path =
        type == "Sequence" ? absl::StrCat("normalizer.normalizers[", i, "]") : "normalizer";
    absl::StatusOr<Stage> stage = StageFromJson(list[i], path);
    if (!stage.ok()) return stage.status();
    out.stages_.push_back(*std::move(stage));
  }
  return out;
}

void Normalizer::Apply(absl::string_view text, std::string* out) const {
  out->assign(text.data(), text.size());
  // ASCII is invariant under every normal form.
  bool ascii = absl::c_all_of(text, [](char c) { return (c & 0x80) == 0; });
  for (const Stage& stage : stages_) {
    switch (stage.kind) {
      case Stage::kPrepend:  // as the reference: only before something
        if (!out->empty()) out->insert(0, stage.content);
        ascii = false;
        break;
      case Stage::kReplace:
        *out = absl::StrReplaceAll(*out, {{stage.pattern, stage.content}});
        ascii = false;
        break;
      case Stage::kUnicode: {
        if (ascii) break;
        utf8proc_uint8_t* result = nullptr;
        const utf8proc_ssize_t n =
            utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(out->data()), out->size(),
                         &result, static_cast<utf8proc_option_t>(stage.utf8proc_options));
        if (n >= 0) out->assign(reinterpret_cast<char*>(result), n);  // n < 0: never, valid input
        std::free(result);
        break;
      }
    }
  }
}

}  // namespace moe::worker
