#include "server/worker_service.h"

#include "server/stream_pump.h"

namespace moe::server {
namespace {

grpc::ServerUnaryReactor* Reply(grpc::CallbackServerContext* context,
                                const absl::StatusOr<bool>& stop, moe::v1::WorkerReply* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (stop.ok()) response->set_stop_requested(*stop);
  reactor->Finish(ToGrpc(stop.status()));
  return reactor;
}

}  // namespace

grpc::ServerUnaryReactor* WorkerServiceImpl::RegisterWorker(grpc::CallbackServerContext* context,
                                                            const moe::v1::WorkerRef* request,
                                                            moe::v1::WorkerReply* response) {
  return Reply(context, coordinator_.Heartbeat(*request), response);
}

grpc::ServerUnaryReactor* WorkerServiceImpl::Heartbeat(grpc::CallbackServerContext* context,
                                                       const moe::v1::WorkerRef* request,
                                                       moe::v1::WorkerReply* response) {
  return Reply(context, coordinator_.Heartbeat(*request), response);
}

grpc::ServerUnaryReactor* WorkerServiceImpl::ReportSteps(grpc::CallbackServerContext* context,
                                                         const moe::v1::ReportStepsRequest* request,
                                                         moe::v1::WorkerReply* response) {
  const std::vector<moe::v1::StepMetrics> steps(request->steps().begin(), request->steps().end());
  return Reply(context, coordinator_.ReportSteps(request->worker(), steps), response);
}

grpc::ServerUnaryReactor* WorkerServiceImpl::ReportCheckpoint(
    grpc::CallbackServerContext* context, const moe::v1::ReportCheckpointRequest* request,
    moe::v1::WorkerReply* response) {
  return Reply(context, coordinator_.ReportCheckpoint(request->worker(), request->checkpoint()),
               response);
}

}  // namespace moe::server
