// WorkerService (what moe-worker processes call): adapters over Coordinator.
#ifndef MOE_SERVER_WORKER_SERVICE_H_
#define MOE_SERVER_WORKER_SERVICE_H_

#include "moe/v1/service.grpc.pb.h"
#include "server/coordinator.h"

namespace moe::server {

class WorkerServiceImpl final : public moe::v1::WorkerService::CallbackService {
 public:
  explicit WorkerServiceImpl(Coordinator& coordinator) : coordinator_(coordinator) {}

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

 private:
  Coordinator& coordinator_;
};

}  // namespace moe::server

#endif  // MOE_SERVER_WORKER_SERVICE_H_
