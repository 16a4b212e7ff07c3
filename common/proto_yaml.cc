#include "common/proto_yaml.h"

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "common/utf8.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "yaml-cpp/yaml.h"

namespace moe::common {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;
using Json = nlohmann::json;

// Levenshtein distance, for "did you mean" hints on misspelt keys.
size_t EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// "RoutingMode" -> "ROUTING_MODE_": the prefix that short enum spellings leave out.
std::string EnumPrefix(const EnumDescriptor& e) {
  std::string prefix;
  for (char c : e.name()) {
    if (absl::ascii_isupper(c) && !prefix.empty()) prefix += '_';
    prefix += absl::ascii_toupper(c);
  }
  return prefix + "_";
}

std::string ShortEnumName(const EnumDescriptor& e, const std::string& full) {
  const std::string prefix = EnumPrefix(e);
  std::string name = full.rfind(prefix, 0) == 0 ? full.substr(prefix.size()) : full;
  return absl::AsciiStrToLower(name);
}

// Walks a YAML tree next to a message descriptor and builds the equivalent proto3 JSON.
class YamlWalker {
 public:
  explicit YamlWalker(absl::string_view source) : source_(source) {}

  absl::StatusOr<Json> Message(const YAML::Node& node, const Descriptor& d,
                               const std::string& path) {
    if (!node.IsMap()) return Error(node, path, "expected a mapping of field: value");
    Json out = Json::object();
    std::map<const google::protobuf::OneofDescriptor*, std::string> oneof_set;
    for (const auto& kv : node) {
      const std::string key = kv.first.Scalar();
      const std::string field_path = path.empty() ? key : absl::StrCat(path, ".", key);
      const FieldDescriptor* f = d.FindFieldByName(key);
      if (f == nullptr) return Error(kv.first, field_path, UnknownFieldHint(d, key, path));
      if (kv.second.IsNull()) continue;  // `key:` with no value leaves the field unset
      if (const FieldDescriptor* automatic = AutoFlag(d, *f, kv.second); automatic != nullptr) {
        out[automatic->name()] = true;  // `save_steps: auto` sets save_steps_auto
        continue;
      }
      if (const auto* oneof = f->real_containing_oneof(); oneof != nullptr) {
        auto [it, inserted] = oneof_set.emplace(oneof, key);
        if (!inserted) {
          return Error(kv.first, field_path,
                       absl::StrCat("conflicts with '", it->second, "': set only one of ",
                                    OneofMembers(*oneof)));
        }
      }
      ASSIGN_OR_RETURN(out[f->name()], Field(kv.second, *f, field_path));
    }
    return out;
  }

 private:
  // For `key: auto` where `key` is a number and the message has a bool field `key_auto`:
  // that field; null otherwise.
  static const FieldDescriptor* AutoFlag(const Descriptor& d, const FieldDescriptor& f,
                                         const YAML::Node& node) {
    if (!node.IsScalar() || node.Scalar() != "auto" || f.is_repeated()) return nullptr;
    const FieldDescriptor* flag = d.FindFieldByName(f.name() + "_auto");
    return flag != nullptr && flag->cpp_type() == FieldDescriptor::CPPTYPE_BOOL ? flag : nullptr;
  }

  absl::StatusOr<Json> Field(const YAML::Node& node, const FieldDescriptor& f,
                             const std::string& path) {
    if (!f.is_repeated()) return Single(node, f, path);
    if (!node.IsSequence()) return Error(node, path, "expected a list");
    Json out = Json::array();
    for (size_t i = 0; i < node.size(); ++i) {
      ASSIGN_OR_RETURN(Json item, Single(node[i], f, absl::StrCat(path, "[", i, "]")));
      out.push_back(std::move(item));
    }
    return out;
  }

  absl::StatusOr<Json> Single(const YAML::Node& node, const FieldDescriptor& f,
                              const std::string& path) {
    if (f.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      return Message(node, *f.message_type(), path);
    }
    if (!node.IsScalar()) return Error(node, path, "expected a single value");
    const std::string& text = node.Scalar();
    switch (f.cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        if (!IsValidUtf8(text))
          return Error(node, path, "is not valid UTF-8 (save the file as UTF-8)");
        return Json(text);
      case FieldDescriptor::CPPTYPE_BOOL: {
        bool value;
        if (!YAML::convert<bool>::decode(node, value)) {
          return Error(node, path, absl::StrCat("expected true or false, got '", text, "'"));
        }
        return Json(value);
      }
      case FieldDescriptor::CPPTYPE_DOUBLE:
      case FieldDescriptor::CPPTYPE_FLOAT: {
        double value;
        if (!YAML::convert<double>::decode(node, value)) {
          return Error(node, path, absl::StrCat("expected a number, got '", text, "'"));
        }
        if (!std::isfinite(value)) return Error(node, path, "must be a finite number");
        return Json(value);
      }
      case FieldDescriptor::CPPTYPE_INT32:
      case FieldDescriptor::CPPTYPE_INT64:
        return Integer<int64_t>(node, f, path);
      case FieldDescriptor::CPPTYPE_UINT32:
      case FieldDescriptor::CPPTYPE_UINT64:
        if (absl::StartsWith(text, "-")) return Error(node, path, "must not be negative");
        return Integer<uint64_t>(node, f, path);
      case FieldDescriptor::CPPTYPE_ENUM:
        return Enum(node, *f.enum_type(), path);
      default:
        return Error(node, path, "field type is not supported in YAML");
    }
  }

  template <typename T>
  absl::StatusOr<Json> Integer(const YAML::Node& node, const FieldDescriptor& f,
                               const std::string& path) {
    T value;
    if (!YAML::convert<T>::decode(node, value)) {
      return Error(node, path, absl::StrCat("expected an integer, got '", node.Scalar(), "'"));
    }
    const bool is32 = f.cpp_type() == FieldDescriptor::CPPTYPE_INT32 ||
                      f.cpp_type() == FieldDescriptor::CPPTYPE_UINT32;
    bool fits = value <= static_cast<T>(std::numeric_limits<uint32_t>::max());
    if constexpr (std::is_signed_v<T>) {
      fits = value >= std::numeric_limits<int32_t>::min() &&
             value <= std::numeric_limits<int32_t>::max();
    }
    if (is32 && !fits)
      return Error(node, path, absl::StrCat("'", node.Scalar(), "' is out of range"));
    return Json(value);
  }

  absl::StatusOr<Json> Enum(const YAML::Node& node, const EnumDescriptor& e,
                            const std::string& path) {
    const std::string wanted = absl::AsciiStrToLower(node.Scalar());
    std::vector<std::string> choices;
    for (int i = 0; i < e.value_count(); ++i) {
      const std::string& full = e.value(i)->name();
      const std::string short_name = ShortEnumName(e, full);
      if (wanted == short_name || wanted == absl::AsciiStrToLower(full)) return Json(full);
      if (e.value(i)->number() != 0) choices.push_back(short_name);
    }
    return Error(
        node, path,
        absl::StrCat("'", node.Scalar(), "' is not one of ", absl::StrJoin(choices, ", ")));
  }

  static std::string UnknownFieldHint(const Descriptor& d, const std::string& key,
                                      const std::string& path) {
    std::vector<std::string> names;
    std::string best;
    size_t best_distance = 3;  // suggest only close matches
    for (int i = 0; i < d.field_count(); ++i) {
      const std::string& name = d.field(i)->name();
      names.push_back(name);
      if (size_t dist = EditDistance(key, name); dist < best_distance) {
        best_distance = dist;
        best = name;
      }
    }
    std::string hint = "unknown field";
    if (!best.empty()) absl::StrAppend(&hint, "; did you mean '", best, "'?");
    absl::StrAppend(&hint, " (", path.empty() ? "top-level" : path,
                    " fields: ", absl::StrJoin(names, ", "), ")");
    return hint;
  }

  static std::string OneofMembers(const google::protobuf::OneofDescriptor& oneof) {
    std::vector<std::string> names;
    for (int i = 0; i < oneof.field_count(); ++i) names.push_back(oneof.field(i)->name());
    return absl::StrJoin(names, ", ");
  }

  absl::Status Error(const YAML::Node& node, const std::string& path, absl::string_view what) {
    const int line = node.Mark().line + 1;  // yaml-cpp counts from 0; -1 when unknown
    return absl::InvalidArgumentError(absl::StrCat(source_, line > 0 ? absl::StrCat(":", line) : "",
                                                   ": ", path.empty() ? "(root)" : path, ": ",
                                                   what));
  }

  const std::string source_;
};

// yaml-cpp keeps the flow style of JSON input; make every collection block style.
void MakeBlockStyle(YAML::Node node) {
  if (node.IsMap() || node.IsSequence()) {
    node.SetStyle(YAML::EmitterStyle::Block);
    for (auto it = node.begin(); it != node.end(); ++it) {
      MakeBlockStyle(node.IsMap() ? it->second : *it);
    }
  }
}

}  // namespace

absl::Status YamlToMessage(absl::string_view yaml, absl::string_view source,
                           google::protobuf::Message* message) {
  message->Clear();
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ":", e.mark.line + 1, ": not valid YAML: ", e.msg));
  }
  if (root.IsNull()) return absl::InvalidArgumentError(absl::StrCat(source, ": is empty"));
  ASSIGN_OR_RETURN(Json json, YamlWalker(source).Message(root, *message->GetDescriptor(), ""));
  const auto status = google::protobuf::util::JsonStringToMessage(json.dump(), message);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", std::string(status.message())));
  }
  return absl::OkStatus();
}

std::string MessageToYaml(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string json;
  // Printing a valid message to JSON cannot fail.
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  YAML::Node node = YAML::Load(json);
  MakeBlockStyle(node);
  YAML::Emitter out;
  out << node;
  return std::string(out.c_str()) + "\n";
}

}  // namespace moe::common
