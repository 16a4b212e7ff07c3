#include "server/worker_service.h"

#include <chrono>

#include "common/worker_token.h"
#include "server/stream_pump.h"

namespace moe::server {
namespace {

// Times a handler into moe_rpc_duration_seconds{method}.
class RpcTimer {
 public:
  RpcTimer(CoordinatorMetrics& metrics, const char* method)
      : metrics_(metrics), method_(method), start_(std::chrono::steady_clock::now()) {}
  ~RpcTimer() {
    metrics_.ObserveRpc(
        method_, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
  }

 private:
  CoordinatorMetrics& metrics_;
  const char* method_;
  std::chrono::steady_clock::time_point start_;
};

grpc::ServerUnaryReactor* Reply(grpc::CallbackServerContext* context,
                                const absl::StatusOr<bool>& stop, moe::v1::WorkerReply* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (stop.ok()) response->set_stop_requested(*stop);
  reactor->Finish(ToGrpc(stop.status()));
  return reactor;
}

// The call's worker token (common/worker_token.h), "" when it has none.
std::string TokenOf(const grpc::CallbackServerContext* context) {
  const auto& metadata = context->client_metadata();
  const auto it = metadata.find(common::kWorkerTokenHeader);
  return it == metadata.end() ? "" : std::string(it->second.data(), it->second.size());
}

}  // namespace

grpc::ServerUnaryReactor* WorkerServiceImpl::RegisterWorker(grpc::CallbackServerContext* context,
                                                            const moe::v1::WorkerRef* request,
                                                            moe::v1::WorkerReply* response) {
  const RpcTimer timer(metrics_, "RegisterWorker");
  return Reply(context, coordinator_.Heartbeat(*request, TokenOf(context)), response);
}

grpc::ServerUnaryReactor* WorkerServiceImpl::Heartbeat(grpc::CallbackServerContext* context,
                                                       const moe::v1::WorkerRef* request,
                                                       moe::v1::WorkerReply* response) {
  const RpcTimer timer(metrics_, "Heartbeat");
  return Reply(context, coordinator_.Heartbeat(*request, TokenOf(context)), response);
}

grpc::ServerUnaryReactor* WorkerServiceImpl::ReportSteps(grpc::CallbackServerContext* context,
                                                         const moe::v1::ReportStepsRequest* request,
                                                         moe::v1::WorkerReply* response) {
  const RpcTimer timer(metrics_, "ReportSteps");
  const std::vector<moe::v1::StepMetrics> steps(request->steps().begin(), request->steps().end());
  return Reply(context, coordinator_.ReportSteps(request->worker(), TokenOf(context), steps),
               response);
}

grpc::ServerUnaryReactor* WorkerServiceImpl::ReportCheckpoint(
    grpc::CallbackServerContext* context, const moe::v1::ReportCheckpointRequest* request,
    moe::v1::WorkerReply* response) {
  const RpcTimer timer(metrics_, "ReportCheckpoint");
  return Reply(
      context,
      coordinator_.ReportCheckpoint(request->worker(), TokenOf(context), request->checkpoint()),
      response);
}

grpc::ServerUnaryReactor* WorkerServiceImpl::ReportCheckpointFailure(
    grpc::CallbackServerContext* context, const moe::v1::ReportCheckpointFailureRequest* request,
    moe::v1::WorkerReply* response) {
  const RpcTimer timer(metrics_, "ReportCheckpointFailure");
  return Reply(context, coordinator_.ReportCheckpointFailure(TokenOf(context), *request), response);
}

}  // namespace moe::server
