// Loading a job spec: YAML -> JobSpec, paths made absolute, defaults applied, validated.
#ifndef MOE_COMMON_SPEC_LOADER_H_
#define MOE_COMMON_SPEC_LOADER_H_

#include <filesystem>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/spec_validator.h"
#include "moe/v1/job.pb.h"

namespace moe::common {

// Reads the YAML file at `path`. Relative paths inside it (model.hf_path, model.tokenizer,
// data.train_file, checkpoint.output_dir, checkpoint.resume_from) are relative to the spec
// file's directory and come back absolute, so the spec means the same wherever it is used;
// the default output_dir is runs/<name> under the current directory.
// Errors: NotFound if the file cannot be read; InvalidArgument naming file, line and field
// for malformed YAML, unknown keys or wrong types, and listing every validation problem.
// `output_dir_defaulted`, when given, says whether the file left checkpoint.output_dir out
// (moectl then asks moed for a directory of the job's own under the default). `files`: whether
// the spec's input files must exist here (common/spec_validator.h).
absl::StatusOr<moe::v1::JobSpec> LoadJobSpec(const std::filesystem::path& path,
                                             bool* output_dir_defaulted = nullptr,
                                             SpecFiles files = SpecFiles::kMustExist);

// As LoadJobSpec, for YAML text; `source` names it in errors and relative paths resolve
// against `base_dir`.
absl::StatusOr<moe::v1::JobSpec> ParseJobSpec(absl::string_view yaml, absl::string_view source,
                                              const std::filesystem::path& base_dir,
                                              bool* output_dir_defaulted = nullptr,
                                              SpecFiles files = SpecFiles::kMustExist);

}  // namespace moe::common

#endif  // MOE_COMMON_SPEC_LOADER_H_
