// Who owns a checkpoint directory (checkpoint.output_dir): one moed job. moed claims the
// directory when the job is submitted by writing the marker file kOwnerFile in it, one line
// "moed <catalogue id> job <id>"; its workers get that line in kOwnerVariable and check the
// marker before writing anything there, so two jobs (of one moed or of two) never write into
// one directory, and a `moe-worker train` run by hand does not write into a job's.
#ifndef MOE_COMMON_OUTPUT_OWNER_H_
#define MOE_COMMON_OUTPUT_OWNER_H_

#include <cstdint>
#include <filesystem>
#include <string>

#include "absl/status/statusor.h"

namespace moe::common {

inline constexpr char kOwnerFile[] = ".moetrain-owner";
inline constexpr char kOwnerVariable[] = "MOE_OUTPUT_OWNER";

// The owner line of job `job_id` of the catalogue `catalogue_id`.
std::string OwnerName(const std::string& catalogue_id, int64_t job_id);

// Whether `owner` (an owner line) names a job of the catalogue `catalogue_id`.
bool OwnedByCatalogue(const std::string& owner, const std::string& catalogue_id);

// The job id an owner line names; 0 when it names none.
int64_t OwnerJobId(const std::string& owner);

// The owner line in `dir`'s marker; "" when it has none.
absl::StatusOr<std::string> ReadOwner(const std::filesystem::path& dir);

// Creates `dir` (and its parents) and writes its marker naming `owner`, durably.
absl::Status ClaimOutputDir(const std::filesystem::path& dir, const std::string& owner);

// Before a worker writes into `dir`: OK when the marker names `owner` ("": a run not launched
// by moed) or there is none (a directory nobody claimed; claimed now for a moed worker).
// FailedPrecondition naming the directory and its owner otherwise.
absl::Status CheckOutputDir(const std::filesystem::path& dir, const std::string& owner);

}  // namespace moe::common

#endif  // MOE_COMMON_OUTPUT_OWNER_H_
