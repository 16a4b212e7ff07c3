// YAML <-> protobuf messages, through protobuf's JSON mapping.
//
// A YAML tree is walked alongside the message descriptor to produce JSON that protobuf's own
// JSON parser then reads; the walk adds what that parser lacks for hand-written files:
// unknown keys and wrong types are reported with their field path and source line, and enum
// values may be written short and in any case (`routing: label_guided` for
// ROUTING_MODE_LABEL_GUIDED), and a number `F` may be written `F: auto` when the message has a
// bool field `F_auto`, which it sets (`save_steps: auto`). No field is parsed by hand.
#ifndef MOE_COMMON_PROTO_YAML_H_
#define MOE_COMMON_PROTO_YAML_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace moe::common {

// Parses `yaml` (the text of a document whose root is a mapping) into `message`, which is
// cleared first. `source` names the text in errors (a file path). Returns InvalidArgument
// naming `source:line`, the field path and a hint for the first problem found.
absl::Status YamlToMessage(absl::string_view yaml, absl::string_view source,
                           google::protobuf::Message* message);

// Renders `message` as block-style YAML with proto field names; only set fields appear.
// YamlToMessage(MessageToYaml(m)) reproduces m.
std::string MessageToYaml(const google::protobuf::Message& message);

}  // namespace moe::common

#endif  // MOE_COMMON_PROTO_YAML_H_
