// WorkerService (what moe-worker processes call): adapters over Coordinator.
#ifndef MOE_SERVER_WORKER_SERVICE_H_
#define MOE_SERVER_WORKER_SERVICE_H_

#include "moe/v1/service.grpc.pb.h"
#include "server/coordinator.h"
#include "server/metrics.h"

namespace moe::server {

class WorkerServiceImpl final : public moe::v1::WorkerService::CallbackService {
 public:
  WorkerServiceImpl(Coordinator& coordinator, CoordinatorMetrics& metrics)
      : coordinator_(coordinator), metrics_(metrics) {}

  grpc::ServerUnaryReactor* RegisterWorker(grpc::CallbackServerContext* context,
                                           const moe::v1::WorkerRef* request,
                                           moe::v1::WorkerReply* response) override;
  grpc::ServerUnaryReactor* Heartbeat(grpc::CallbackServerContext* context,
                                      const moe::v1::WorkerRef* request,
                                      moe::v1::WorkerReply* response) override;
  grpc::ServerUnaryReactor* ReportSteps(grpc::CallbackServerContext* context,
                                        const moe::v1::ReportStepsRequest* request,
                                        moe::v1::WorkerReply* response) override;
  grpc::ServerUnaryReactor* ReportCheckpoint(grpc::CallbackServerContext* context,
                                             const moe::v1::ReportCheckpointRequest* request,
                                             moe::v1::WorkerReply* response) override;
  grpc::ServerUnaryReactor* ReportCheckpointFailure(
      grpc::CallbackServerContext* context, const moe::v1::ReportCheckpointFailureRequest* request,
      moe::v1::WorkerReply* response) override;

 private:
  Coordinator& coordinator_;
  CoordinatorMetrics& metrics_;
};

}  // namespace moe::server

#endif  // MOE_SERVER_WORKER_SERVICE_H_
