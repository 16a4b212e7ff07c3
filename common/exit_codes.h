// How moe-worker's exit code tells moed why it stopped (moed classifies attempts by it).
#ifndef MOE_COMMON_EXIT_CODES_H_
#define MOE_COMMON_EXIT_CODES_H_

#include "absl/status/status.h"
#include "common/disk_full.h"

namespace moe::common {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;    // a crash or an infrastructure problem: retried
inline constexpr int kExitUserError = 2;  // a bad spec, data or checkpoint: never retried
inline constexpr int kExitStopped = 3;    // stopped on request with a checkpoint: resumable
// Stopped on request, but the grace period ended before the stop step's checkpoint was known
// to be committed: it is whole or absent (one rename), else the previous one stands
// (resumable, not a crash).
inline constexpr int kExitStopTimedOut = 4;
// The checkpoint to resume from fails its manifest (damaged after it was committed): moed
// sets it aside and resumes from the one before (not a crash).
inline constexpr int kExitBadCheckpoint = 5;
// The device or host ran out of memory (ResourceExhausted): retried once, not twice at the
// same start.
inline constexpr int kExitOutOfMemory = 6;
// A save that could not be skipped (the final one, a stop's) failed for lack of disk space
// (common/disk_full.h): moed waits until the file system has room, then resumes.
inline constexpr int kExitDiskFull = 7;
// Stopped on request without a stop checkpoint, at once: the save's predicted time did not fit
// the time left before the deadline (a spot notice, the grace period), so the newest periodic
// checkpoint is the resume point (resumable, not a crash).
inline constexpr int kExitStoppedWithoutSave = 8;

// Exits of a requested stop, with or without a new checkpoint: preempted, never charged.
inline bool IsStopExit(int code) {
  return code == kExitStopped || code == kExitStopTimedOut || code == kExitStoppedWithoutSave;
}

inline constexpr char kStoppedWithoutSavePayload[] = "type.moetrain.dev/stopped_without_save";

// Aborted with `message`, marked: the stop's save was skipped (kExitStoppedWithoutSave).
inline absl::Status StoppedWithoutSaveError(const std::string& message) {
  absl::Status status = absl::AbortedError(message);
  status.SetPayload(kStoppedWithoutSavePayload, absl::Cord("1"));
  return status;
}

// kExitStoppedWithoutSave for a status so marked, kExitUserError for what only the user can fix
// (InvalidArgument, FailedPrecondition, NotFound), kExitStopped for a requested stop (Aborted),
// kExitBadCheckpoint for a resume checkpoint that does not verify (DataLoss), kExitDiskFull for a
// status marked disk full, kExitOutOfMemory (other ResourceExhausted), kExitFailure for anything
// else.
inline int ExitCodeFor(const absl::Status& status) {
  if (status.ok()) return kExitOk;
  if (IsDiskFull(status)) return kExitDiskFull;
  if (status.GetPayload(kStoppedWithoutSavePayload).has_value()) return kExitStoppedWithoutSave;
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kNotFound:
      return kExitUserError;
    case absl::StatusCode::kAborted:
      return kExitStopped;
    case absl::StatusCode::kDataLoss:
      return kExitBadCheckpoint;
    case absl::StatusCode::kResourceExhausted:
      return kExitOutOfMemory;
    default:
      return kExitFailure;
  }
}

}  // namespace moe::common

#endif  // MOE_COMMON_EXIT_CODES_H_
