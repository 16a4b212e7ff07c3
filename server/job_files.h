// A job's files outside the catalogue: its directory under the data directory
// (jobs/<id>/job.yaml, the spec its workers read; attempt-<n>/ with their logs), and its claim
// on its checkpoint directory (common/output_owner.h). Submit makes them all before the job's
// row commits (Catalogue::CreateJob's `prepare`), so a job never exists without them.
#ifndef MOE_SERVER_JOB_FILES_H_
#define MOE_SERVER_JOB_FILES_H_

#include <cstdint>
#include <filesystem>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "moe/v1/job.pb.h"
#include "moe/v1/service.pb.h"
#include "server/catalogue.h"

namespace moe::server {

// The workers' copy of a job's spec: moed applies retention itself, from the catalogue.
moe::v1::JobSpec WorkerSpec(moe::v1::JobSpec spec);

// <job_dir>/job.yaml.
std::filesystem::path SpecFile(const moe::v1::Job& job);

// OK when `spec`'s output_dir belongs to no job of `catalogue` (whose id is `catalogue_id`)
// and to no other moed's job (its owner marker), except a job that ended and that this spec
// continues from one of its checkpoints. FailedPrecondition naming the owner and the way out.
absl::Status CheckOutputDirFree(Catalogue& catalogue, const std::string& catalogue_id,
                                const moe::v1::JobSpec& spec);

// Submit's files for job `id`: with `unique_output_dir`, output_dir/<id> becomes the spec's
// checkpoint directory (refused when another job owns it); then the job's directory, its
// job.yaml (durably) and the owner marker. On failure nothing is left but, at worst, an empty
// directory; the error starts "not queued:".
absl::StatusOr<Catalogue::PreparedJob> PrepareJobFiles(moe::v1::JobSpec spec,
                                                       bool unique_output_dir, int64_t id,
                                                       const std::filesystem::path& data_dir,
                                                       const std::string& catalogue_id);

// Writes the job's job.yaml again from the catalogue when it is missing (a job directory
// deleted by hand); true when it did. FailedPrecondition when it cannot.
absl::StatusOr<bool> RestoreSpecFile(const moe::v1::Job& job);

}  // namespace moe::server

#endif  // MOE_SERVER_JOB_FILES_H_
