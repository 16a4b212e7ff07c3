#include "common/spec_loader.h"

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/proto_yaml.h"
#include "common/spec_defaults.h"
#include "common/spec_validator.h"
#include "common/status_macros.h"

namespace moe::common {
namespace {

// Makes `*path` absolute against `base` unless it is empty or already absolute.
void Absolutize(const std::filesystem::path& base, std::string* path) {
  if (path->empty() || std::filesystem::path(*path).is_absolute()) return;
  *path = (base / *path).lexically_normal().string();
}

void ResolvePaths(const std::filesystem::path& base, moe::v1::JobSpec* spec) {
  moe::v1::ModelSpec* model = spec->mutable_model();
  if (model->has_hf_path()) Absolutize(base, model->mutable_hf_path());
  Absolutize(base, model->mutable_tokenizer());
  Absolutize(base, spec->mutable_data()->mutable_train_file());
  Absolutize(base, spec->mutable_checkpoint()->mutable_output_dir());
  Absolutize(base, spec->mutable_checkpoint()->mutable_resume_from());
}

}  // namespace

absl::StatusOr<moe::v1::JobSpec> ParseJobSpec(absl::string_view yaml, absl::string_view source,
                                              const std::filesystem::path& base_dir,
                                              bool* output_dir_defaulted, SpecFiles files) {
  moe::v1::JobSpec spec;
  RETURN_IF_ERROR(YamlToMessage(yaml, source, &spec));
  if (output_dir_defaulted != nullptr) {
    *output_dir_defaulted = spec.checkpoint().output_dir().empty();
  }
  ResolvePaths(std::filesystem::absolute(base_dir.empty() ? "." : base_dir), &spec);
  ApplyDefaults(&spec);
  // The default output_dir (runs/<name>) lives under the current directory, not the spec's.
  Absolutize(std::filesystem::current_path(), spec.mutable_checkpoint()->mutable_output_dir());
  const absl::Status valid = ValidateJobSpec(spec, files);
  if (!valid.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": invalid job spec:\n", valid.message()));
  }
  return spec;
}

absl::StatusOr<moe::v1::JobSpec> LoadJobSpec(const std::filesystem::path& path,
                                             bool* output_dir_defaulted, SpecFiles files) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path.string(), ": cannot read job spec"));
  std::stringstream text;
  text << in.rdbuf();
  return ParseJobSpec(text.str(), path.string(), path.parent_path(), output_dir_defaulted, files);
}

}  // namespace moe::common
