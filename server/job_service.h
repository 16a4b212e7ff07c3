// JobService (moectl's API): adapters over Coordinator and Catalogue. Each handler validates its
// request, calls the domain, converts the status and finishes.
#ifndef MOE_SERVER_JOB_SERVICE_H_
#define MOE_SERVER_JOB_SERVICE_H_

#include "moe/v1/service.grpc.pb.h"
#include "server/catalogue.h"
#include "server/coordinator.h"
#include "server/stream_pump.h"

namespace moe::server {

class JobServiceImpl final : public moe::v1::JobService::CallbackService {
 public:
  // All three must outlive the service.
  JobServiceImpl(Coordinator& coordinator, Catalogue& catalogue, StreamPump& pump)
      : coordinator_(coordinator), catalogue_(catalogue), pump_(pump) {}

  grpc::ServerUnaryReactor* SubmitJob(grpc::CallbackServerContext* context,
                                      const moe::v1::SubmitJobRequest* request,
                                      moe::v1::Job* response) override;
  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext* context,
                                   const moe::v1::JobRef* request, moe::v1::Job* response) override;
  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext* context,
                                     const moe::v1::ListJobsRequest* request,
                                     moe::v1::ListJobsResponse* response) override;
  grpc::ServerUnaryReactor* CancelJob(grpc::CallbackServerContext* context,
                                      const moe::v1::JobRef* request,
                                      moe::v1::Job* response) override;
  grpc::ServerUnaryReactor* ResumeJob(grpc::CallbackServerContext* context,
                                      const moe::v1::ResumeJobRequest* request,
                                      moe::v1::Job* response) override;
  grpc::ServerWriteReactor<moe::v1::JobProgress>* WatchJob(grpc::CallbackServerContext* context,
                                                           const moe::v1::JobRef* request) override;
  grpc::ServerWriteReactor<moe::v1::LogChunk>* GetLogs(
      grpc::CallbackServerContext* context, const moe::v1::GetLogsRequest* request) override;
  grpc::ServerUnaryReactor* ListCheckpoints(grpc::CallbackServerContext* context,
                                            const moe::v1::JobRef* request,
                                            moe::v1::ListCheckpointsResponse* response) override;
  grpc::ServerUnaryReactor* ListAttempts(grpc::CallbackServerContext* context,
                                         const moe::v1::JobRef* request,
                                         moe::v1::ListAttemptsResponse* response) override;
  grpc::ServerUnaryReactor* DeleteJob(grpc::CallbackServerContext* context,
                                      const moe::v1::DeleteJobRequest* request,
                                      moe::v1::DeleteJobResponse* response) override;

  // The most jobs a ListJobs page holds.
  static constexpr int kMaxPageSize = 1000;

 private:
  Coordinator& coordinator_;
  Catalogue& catalogue_;
  StreamPump& pump_;
};

}  // namespace moe::server

#endif  // MOE_SERVER_JOB_SERVICE_H_
