// moectl's view of moed: JobService calls with deadlines, as absl statuses. UNAVAILABLE means
// moed cannot be reached at the address.
#ifndef MOE_CLIENT_JOB_CLIENT_H_
#define MOE_CLIENT_JOB_CLIENT_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/rpc_security.h"
#include "moe/v1/service.grpc.pb.h"

namespace moe::client {

class JobClient {
 public:
  // `security`: the bearer token and TLS CA moed asks for (none by default).
  explicit JobClient(const std::string& address, const common::ClientSecurity& security = {});

  // The message sizes this client allows.
  static constexpr int kMaxSendBytes = 2 << 20, kMaxReceiveBytes = 16 << 20;

  // `unique_output_dir`: the spec's checkpoint.output_dir is a default (SubmitJobRequest).
  // InvalidArgument without calling moed for a spec over common::kMaxSpecBytes.
  absl::StatusOr<moe::v1::Job> Submit(const moe::v1::JobSpec& spec, bool unique_output_dir = false);
  absl::StatusOr<moe::v1::Job> Get(int64_t id);
  absl::StatusOr<moe::v1::ListJobsResponse> List(const moe::v1::ListJobsRequest& request = {});
  absl::StatusOr<moe::v1::DeleteJobResponse> Delete(int64_t id, bool files);
  absl::StatusOr<moe::v1::Job> Cancel(int64_t id);
  absl::StatusOr<moe::v1::Job> Resume(int64_t id, int64_t from_step, int32_t world_size);
  absl::StatusOr<moe::v1::ListCheckpointsResponse> Checkpoints(int64_t id);
  absl::StatusOr<moe::v1::ListAttemptsResponse> Attempts(int64_t id);
  // Calls `on_progress` for each message until the job ends (or the stream fails).
  absl::Status Watch(int64_t id,
                     const std::function<void(const moe::v1::JobProgress&)>& on_progress);
  // Calls `on_data` with each chunk of a rank's log.
  absl::Status Logs(const moe::v1::GetLogsRequest& request,
                    const std::function<void(const std::string&)>& on_data);

 private:
  const std::string address_;
  std::unique_ptr<moe::v1::JobService::Stub> stub_;
};

}  // namespace moe::client

#endif  // MOE_CLIENT_JOB_CLIENT_H_
