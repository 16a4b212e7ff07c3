// How moectl prints jobs, attempts, checkpoints and progress, as text or JSON.
#ifndef MOE_CLIENT_FORMAT_H_
#define MOE_CLIENT_FORMAT_H_

#include <string>

#include "google/protobuf/message.h"
#include "moe/v1/service.pb.h"

namespace moe::client {

// "RUNNING" for JOB_STATE_RUNNING.
std::string StateName(moe::v1::JobState state);
// The message as indented JSON with the proto's field names.
std::string ToJson(const google::protobuf::Message& message);
// One line for `moectl list`, and its header.
std::string JobListHeader();
std::string JobListLine(const moe::v1::Job& job);
// `moectl status`: the job, its attempts and its newest checkpoint.
std::string JobDetails(const moe::v1::Job& job, const moe::v1::ListAttemptsResponse& attempts,
                       const moe::v1::ListCheckpointsResponse& checkpoints);
// `moectl watch`: a progress bar line for the newest step:
// [######....] step 12/40 30% | loss 2.3100 | lr 1.00e-04 | 5.1k tok/s | ETA 0:32 |
// experts 25/25/25/25%
std::string ProgressLine(const moe::v1::StepMetrics& step, double eta_seconds);

}  // namespace moe::client

#endif  // MOE_CLIENT_FORMAT_H_
