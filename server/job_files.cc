#include "server/job_files.h"

#include "absl/strings/str_cat.h"
#include "common/durable_file.h"
#include "common/output_owner.h"
#include "common/proto_yaml.h"
#include "common/status_macros.h"

namespace moe::server {

namespace fs = std::filesystem;

moe::v1::JobSpec WorkerSpec(moe::v1::JobSpec spec) {
  spec.mutable_checkpoint()->set_keep_last(0);
  return spec;
}

fs::path SpecFile(const moe::v1::Job& job) { return fs::path(job.job_dir()) / "job.yaml"; }

absl::Status CheckOutputDirFree(Catalogue& catalogue, const std::string& catalogue_id,
                                const moe::v1::JobSpec& spec) {
  const std::string dir = OutputDirKey(spec);
  // Continuing a job that ended, from one of its checkpoints, may take its directory over.
  const std::string& resume_from = spec.checkpoint().resume_from();
  const bool continues =
      !resume_from.empty() && fs::path(resume_from).lexically_normal().parent_path() == dir;
  ASSIGN_OR_RETURN(const auto owners, catalogue.JobsWithOutputDir(dir));
  for (const auto& [owner, state] : owners) {
    const bool ended = IsFinal(state);
    if (continues && ended) continue;
    return absl::FailedPreconditionError(absl::StrCat(
        "checkpoint.output_dir ", dir, " belongs to job ", owner, " (", StateName(state),
        "): give this job its own output_dir, or leave it out (moed then makes one per job)",
        ended ? absl::StrCat("; to continue job ", owner,
                             ", set checkpoint.resume_from to one of its checkpoints or run "
                             "moectl resume ",
                             owner)
              : ""));
  }
  // A marker of another catalogue (another moed's job) is never taken over; one of this
  // catalogue names a job deleted since, or the one being continued.
  ASSIGN_OR_RETURN(const std::string marker, common::ReadOwner(dir));
  if (marker.empty()) return absl::OkStatus();
  if (!common::OwnedByCatalogue(marker, catalogue_id)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "checkpoint.output_dir ", dir, " belongs to ", marker, " (", common::kOwnerFile,
        "), a job of another moed: give this job its own output_dir"));
  }
  // A job of this catalogue that named the directory otherwise (a link, another spelling).
  const int64_t owner = common::OwnerJobId(marker);
  if (const auto job = catalogue.GetJob(owner); job.ok()) {
    const moe::v1::JobState state = job->state();
    const bool ended = IsFinal(state);
    if (!(continues && ended)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "checkpoint.output_dir ", dir, " belongs to job ", owner, " (", StateName(state),
          "; its ", common::kOwnerFile, " says so): give this job its own output_dir"));
    }
  }
  return absl::OkStatus();  // a job deleted since, or the one being continued
}

absl::StatusOr<Catalogue::PreparedJob> PrepareJobFiles(moe::v1::JobSpec spec,
                                                       bool unique_output_dir, int64_t id,
                                                       const fs::path& data_dir,
                                                       const std::string& catalogue_id) {
  if (unique_output_dir) {
    spec.mutable_checkpoint()->set_output_dir(
        (fs::path(spec.checkpoint().output_dir()) / std::to_string(id)).string());
    // Another moed's job of the same id, or a job that chose this directory: never shared.
    ASSIGN_OR_RETURN(const std::string marker, common::ReadOwner(spec.checkpoint().output_dir()));
    if (!marker.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("not queued: the default checkpoint directory ",
                       spec.checkpoint().output_dir(), " already belongs to ", marker, " (",
                       common::kOwnerFile, "): give the job an output_dir"));
    }
  }
  const fs::path dir = data_dir / "jobs" / std::to_string(id);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("not queued: job directory ", dir.string(), ": ", ec.message()));
  }
  absl::Status written =
      common::WriteFileDurably(dir / "job.yaml", common::MessageToYaml(WorkerSpec(spec)));
  if (written.ok()) {
    written =
        common::ClaimOutputDir(spec.checkpoint().output_dir(), common::OwnerName(catalogue_id, id));
  }
  if (!written.ok()) {
    fs::remove_all(dir, ec);  // the job never existed; a failure here leaves an empty leftover
    return absl::FailedPreconditionError(absl::StrCat("not queued: ", written.message()));
  }
  return Catalogue::PreparedJob{std::move(spec), dir.string()};
}

absl::StatusOr<bool> RestoreSpecFile(const moe::v1::Job& job) {
  const fs::path spec_file = SpecFile(job);
  std::error_code ec;
  if (fs::exists(spec_file, ec)) return false;
  fs::create_directories(spec_file.parent_path(), ec);
  const absl::Status written =
      common::WriteFileDurably(spec_file, common::MessageToYaml(WorkerSpec(job.spec())));
  if (!written.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot write the workers' spec: ", written.message()));
  }
  return true;
}

}  // namespace moe::server
