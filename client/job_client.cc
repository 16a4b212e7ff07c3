#include "client/job_client.h"

#include <grpcpp/grpcpp.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/spec_validator.h"

namespace moe::client {
namespace {

constexpr auto kDeadline = std::chrono::seconds(30);

absl::Status FromGrpc(const grpc::Status& status, const std::string& address) {
  if (status.ok()) return absl::OkStatus();
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    return absl::UnavailableError(absl::StrCat("cannot reach moed at ", address, " (",
                                               status.error_message(),
                                               "); is it running? --server or MOECTL_SERVER"));
  }
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

template <typename Request, typename Response>
absl::StatusOr<Response> Unary(grpc::Status (moe::v1::JobService::Stub::*method)(
                                   grpc::ClientContext*, const Request&, Response*),
                               moe::v1::JobService::Stub* stub, const Request& request,
                               const std::string& address) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kDeadline);
  Response response;
  const absl::Status status = FromGrpc((stub->*method)(&context, request, &response), address);
  if (!status.ok()) return status;
  return response;
}

moe::v1::JobRef Ref(int64_t id) {
  moe::v1::JobRef ref;
  ref.set_id(id);
  return ref;
}

}  // namespace

JobClient::JobClient(const std::string& address, const common::ClientSecurity& security)
    : address_(address) {
  grpc::ChannelArguments limits;
  // Requests are small (a spec is at most 1 MiB); replies are pages, logs in 64 KiB chunks and
  // one job's spec: 16 MiB leaves room without letting a broken server flood moectl.
  limits.SetMaxSendMessageSize(kMaxSendBytes);
  limits.SetMaxReceiveMessageSize(kMaxReceiveBytes);
  stub_ = moe::v1::JobService::NewStub(
      grpc::CreateCustomChannel(address, common::ChannelCredentialsFor(security), limits));
}

using Stub = moe::v1::JobService::Stub;

absl::StatusOr<moe::v1::Job> JobClient::Submit(const moe::v1::JobSpec& spec,
                                               bool unique_output_dir) {
  if (const absl::Status size = common::CheckSpecSize(spec); !size.ok()) return size;
  moe::v1::SubmitJobRequest request;
  *request.mutable_spec() = spec;
  request.set_unique_output_dir(unique_output_dir);
  return Unary(&Stub::SubmitJob, stub_.get(), request, address_);
}

absl::StatusOr<moe::v1::Job> JobClient::Get(int64_t id) {
  return Unary(&Stub::GetJob, stub_.get(), Ref(id), address_);
}

absl::StatusOr<moe::v1::ListJobsResponse> JobClient::List(const moe::v1::ListJobsRequest& request) {
  return Unary(&Stub::ListJobs, stub_.get(), request, address_);
}

absl::StatusOr<moe::v1::DeleteJobResponse> JobClient::Delete(int64_t id, bool files) {
  moe::v1::DeleteJobRequest request;
  request.set_id(id);
  request.set_files(files);
  return Unary(&Stub::DeleteJob, stub_.get(), request, address_);
}

absl::StatusOr<moe::v1::Job> JobClient::Cancel(int64_t id) {
  return Unary(&Stub::CancelJob, stub_.get(), Ref(id), address_);
}

absl::StatusOr<moe::v1::Job> JobClient::Resume(int64_t id, int64_t from_step, int32_t world_size) {
  moe::v1::ResumeJobRequest request;
  request.set_id(id);
  request.set_from_step(from_step);
  request.set_world_size(world_size);
  return Unary(&Stub::ResumeJob, stub_.get(), request, address_);
}

absl::StatusOr<moe::v1::ListCheckpointsResponse> JobClient::Checkpoints(int64_t id) {
  return Unary(&Stub::ListCheckpoints, stub_.get(), Ref(id), address_);
}

absl::StatusOr<moe::v1::ListAttemptsResponse> JobClient::Attempts(int64_t id) {
  return Unary(&Stub::ListAttempts, stub_.get(), Ref(id), address_);
}

absl::Status JobClient::Watch(int64_t id,
                              const std::function<void(const moe::v1::JobProgress&)>& on_progress) {
  grpc::ClientContext context;
  auto reader = stub_->WatchJob(&context, Ref(id));
  moe::v1::JobProgress progress;
  while (reader->Read(&progress)) on_progress(progress);
  return FromGrpc(reader->Finish(), address_);
}

absl::Status JobClient::Logs(const moe::v1::GetLogsRequest& request,
                             const std::function<void(const std::string&)>& on_data) {
  grpc::ClientContext context;
  auto reader = stub_->GetLogs(&context, request);
  moe::v1::LogChunk chunk;
  while (reader->Read(&chunk)) on_data(chunk.data());
  return FromGrpc(reader->Finish(), address_);
}

}  // namespace moe::client
