#include "worker/data/normalizer.h"

#include <cstdlib>

#include "absl/algorithm/container.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "utf8proc.h"

namespace moe::worker {
namespace {

absl::StatusOr<int> OptionsFor(const std::string& type) {
  if (type == "NFC") return UTF8PROC_STABLE | UTF8PROC_COMPOSE;
  if (type == "NFD") return UTF8PROC_STABLE | UTF8PROC_DECOMPOSE;
  if (type == "NFKC") return UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
  if (type == "NFKD") return UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
  return absl::InvalidArgumentError(
      absl::StrCat("tokenizer normalizer: type '", type,
                   "' is not supported (use NFC, NFD, NFKC, NFKD or a Sequence of them)"));
}

}  // namespace

absl::StatusOr<Normalizer> Normalizer::FromJson(const nlohmann::json& config) {
  Normalizer out;
  if (config.is_null()) return out;
  const std::string type = config.value("type", "");
  const nlohmann::json list =
      type == "Sequence" ? config["normalizers"] : nlohmann::json::array({config});
  for (const nlohmann::json& stage : list) {
    absl::StatusOr<int> options = OptionsFor(stage.value("type", ""));
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

bool IsValidUtf8(absl::string_view text) {
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(text.size());
  while (left > 0) {
    if (*p < 0x80) {
      ++p;
      --left;
      continue;
    }
    utf8proc_int32_t cp;
    const utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
    if (n <= 0) return false;
    p += n;
    left -= n;
  }
  return true;
}

namespace {

// Length of the maximal prefix of an ill-formed sequence at `p` that could start a valid
// character (at least 1), so that it becomes a single U+FFFD as WHATWG and Rust's
// from_utf8_lossy do.
size_t MaximalSubpart(const utf8proc_uint8_t* p, size_t left) {
  const uint8_t lead = p[0];
  const size_t want = lead >= 0xC2 && lead <= 0xDF   ? 2
                      : lead >= 0xE0 && lead <= 0xEF ? 3
                      : lead >= 0xF0 && lead <= 0xF4 ? 4
                                                     : 1;
  size_t n = 1;
  while (n < want && n < left) {
    uint8_t lo = 0x80, hi = 0xBF;
    if (n == 1) {  // the second byte's range depends on the lead
      if (lead == 0xE0) lo = 0xA0;
      if (lead == 0xED) hi = 0x9F;
      if (lead == 0xF0) lo = 0x90;
      if (lead == 0xF4) hi = 0x8F;
    }
    if (p[n] < lo || p[n] > hi) break;
    ++n;
  }
  return n;
}

}  // namespace

void RepairUtf8(absl::string_view text, std::string* out) {
  out->clear();
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(text.size());
  while (left > 0) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
    if (n <= 0) {
      out->append("\xEF\xBF\xBD");  // U+FFFD
      n = static_cast<utf8proc_ssize_t>(MaximalSubpart(p, left));
    } else {
      out->append(reinterpret_cast<const char*>(p), n);
    }
    p += n;
    left -= n;
  }
}

}  // namespace moe::worker
