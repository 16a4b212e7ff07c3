#include "worker/data/normalizer.h"

#include <cstdlib>

#include "absl/algorithm/container.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "utf8proc.h"

namespace moe::worker {
namespace {

// The utf8proc options of normalizer `type`, found at JSON path `path`.
absl::StatusOr<int> OptionsFor(const std::string& type, const std::string& path) {
  if (type == "NFC") return UTF8PROC_STABLE | UTF8PROC_COMPOSE;
  if (type == "NFD") return UTF8PROC_STABLE | UTF8PROC_DECOMPOSE;
  if (type == "NFKC") return UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
  if (type == "NFKD") return UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
  return absl::InvalidArgumentError(
      absl::StrCat("tokenizer ", path, ".type: '", type,
                   "' is not supported (use NFC, NFD, NFKC, NFKD or a Sequence of them)"));
}

}  // namespace

absl::StatusOr<Normalizer> Normalizer::FromJson(const nlohmann::json& config) {
  Normalizer out;
  if (config.is_null()) return out;
  const std::string type = config.value("type", "");
  const nlohmann::json list =
      type == "Sequence" ? config.at("normalizers") : nlohmann::json::array({config});
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string path =
        type == "Sequence" ? absl::StrCat("normalizer.normalizers[", i, "]") : "normalizer";
    absl::StatusOr<int> options = OptionsFor(list[i].value("type", ""), path);
    if (!options.ok()) return options.status();
    out.stages_.push_back(*options);
  }
  return out;
}

void Normalizer::Apply(absl::string_view text, std::string* out) const {
  out->assign(text.data(), text.size());
  // ASCII is invariant under every normal form.
  if (stages_.empty() || absl::c_all_of(text, [](char c) { return (c & 0x80) == 0; })) return;
  for (int options : stages_) {
    utf8proc_uint8_t* result = nullptr;
    const utf8proc_ssize_t n =
        utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(out->data()), out->size(), &result,
                     static_cast<utf8proc_option_t>(options));
    if (n >= 0)
      out->assign(reinterpret_cast<char*>(result), n);  // n < 0 cannot happen on valid input
    std::free(result);
  }
}

}  // namespace moe::worker
