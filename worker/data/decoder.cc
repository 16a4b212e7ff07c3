#include "worker/data/decoder.h"

#include <cstdint>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "common/utf8.h"
#include "nlohmann/json.hpp"
#include "worker/data/byte_level.h"
#include "worker/data/json_integer.h"

namespace moe::worker {
namespace {

// The byte of a "<0xXX>" token.
std::optional<uint8_t> FallbackByte(const std::string& token) {
  if (token.size() != 6 || !absl::StartsWith(token, "<0x") || token.back() != '>') return {};
  int value = 0;
  if (!absl::SimpleHexAtoi(token.substr(3, 2), &value)) return {};
  return static_cast<uint8_t>(value);
}

}  // namespace

absl::StatusOr<Decoder::Step> Decoder::StepFromJson(const nlohmann::json& config,
                                                    const std::string& path) {
  const std::string type = config.value("type", "");
  if (type == "ByteLevel") return Step{Step::kByteLevel};
  if (type == "ByteFallback") return Step{Step::kByteFallback};
  if (type == "Fuse") return Step{Step::kFuse};
  if (type == "Replace") {
    const nlohmann::json& pattern = config.at("pattern");
    if (!pattern.contains("String") || pattern.at("String").get<std::string>().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("tokenizer ", path, ".pattern: only a non-empty String is supported"));
    }
    return Step{Step::kReplace, pattern.at("String").get<std::string>(),
                config.at("content").get<std::string>()};
  }
  if (type == "Strip") {
    Step step{Step::kStrip, "", config.at("content").get<std::string>()};
    for (auto [key, field] : {std::pair{"start", &step.start}, {"stop", &step.stop}}) {
      if (!config.contains(key)) continue;
      const absl::StatusOr<int64_t> n =
          JsonInteger(config.at(key), absl::StrCat(path, ".", key), 0, 1 << 20);
      if (!n.ok()) return n.status();
      *field = static_cast<size_t>(*n);
    }
    return step;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "tokenizer ", path, ".type: '", type,
      "' is not supported (use ByteLevel, or a Sequence of Replace, ByteFallback, Fuse, Strip)"));
}

absl::StatusOr<Decoder> Decoder::FromJson(const nlohmann::json& config) {
  Decoder out;
  if (config.is_null()) return out;
  out.configured_ = true;
  const bool sequence = config.value("type", "") == "Sequence";
  const nlohmann::json list = sequence ? config.at("decoders") : nlohmann::json::array({config});
  for (size_t i = 0; i < list.size(); ++i) {
    absl::StatusOr<Step> step =
        StepFromJson(list[i], sequence ? absl::StrCat("decoder.decoders[", i, "]") : "decoder");
    if (!step.ok()) return step.status();
    out.steps_.push_back(*std::move(step));
  }
  return out;
}

std::string Decoder::Decode(std::vector<std::string> tokens) const {
  if (!configured_) return absl::StrJoin(tokens, " ");
  for (const Step& step : steps_) {
    switch (step.kind) {
      case Step::kByteLevel: {
        // A token that is not all byte-level characters (e.g. a special token) stays as its
        // text; then all are one string.
        std::string bytes;
        for (const std::string& token : tokens) {
          const size_t mark = bytes.size();
          if (!ByteLevel::Get().Decode(token, &bytes)) {
            bytes.resize(mark);
            bytes.append(token);
          }
        }
        tokens.assign(1, std::move(bytes));
        break;
      }
      case Step::kReplace:
        for (std::string& token : tokens) {
          token = absl::StrReplaceAll(token, {{step.pattern, step.content}});
        }
        break;
      case Step::kByteFallback: {
        // Runs of <0xXX> tokens become their bytes when those are valid UTF-8, else one
        // U+FFFD per byte.
        std::vector<std::string> next;
        std::string run;
        size_t run_bytes = 0;
        const auto flush = [&] {
          if (run_bytes == 0) return;
          if (common::IsValidUtf8(run)) {
            next.push_back(run);
          } else {
            for (size_t b = 0; b < run_bytes; ++b) next.push_back("\xEF\xBF\xBD");
          }
          run.clear();
          run_bytes = 0;
        };
        for (std::string& token : tokens) {
          if (const auto byte = FallbackByte(token)) {
            run.push_back(static_cast<char>(*byte));
            ++run_bytes;
            continue;
          }
          flush();
          next.push_back(std::move(token));
        }
        flush();
        tokens.swap(next);
        break;
      }
      case Step::kFuse:
        tokens.assign(1, absl::StrJoin(tokens, ""));
        break;
      case Step::kStrip:
        for (std::string& token : tokens) {
          size_t begin = 0, end = token.size();
          for (size_t n = 0; n < step.start && absl::StartsWith(token.substr(begin), step.content);
               ++n) {
            begin += step.content.size();
          }
          for (size_t n = 0;
               n < step.stop && end >= begin + step.content.size() &&
               token.compare(end - step.content.size(), step.content.size(), step.content) == 0;
               ++n) {
            end -= step.content.size();
          }
          token = token.substr(begin, end - begin);
        }
        break;
    }
  }
  return absl::StrJoin(tokens, "");
}

}  // namespace moe::worker
