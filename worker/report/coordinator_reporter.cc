#include "worker/report/coordinator_reporter.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/checkpoint_manifest.h"
#include "common/logging.h"
#include "common/rpc_security.h"
#include "common/status_macros.h"
#include "common/worker_token.h"
#include "moe/v1/service.grpc.pb.h"

namespace moe::worker {
namespace {

constexpr auto kCallDeadline = std::chrono::seconds(10);

double UnixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

struct CoordinatorReporter::Rpc {
  std::unique_ptr<moe::v1::WorkerService::Stub> stub;
  moe::v1::WorkerRef self;
  std::string token;  // this rank's worker token, sent with every call

  // Calls `method` with a deadline; logs a failure, notes a stop request in *stop.
  template <typename Request>
  void Call(grpc::Status (moe::v1::WorkerService::Stub::*method)(grpc::ClientContext*,
                                                                 const Request&,
                                                                 moe::v1::WorkerReply*),
            const Request& request, const char* what, std::atomic<bool>* stop) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kCallDeadline);
    context.AddMetadata(common::kWorkerTokenHeader, token);
    moe::v1::WorkerReply reply;
    const grpc::Status status = (stub.get()->*method)(&context, request, &reply);
    if (!status.ok()) {
      spdlog::warn("coordinator {}: {}", what, status.error_message());
    } else if (reply.stop_requested()) {
      *stop = true;
    }
  }
};

absl::StatusOr<std::unique_ptr<CoordinatorReporter>> CoordinatorReporter::FromEnvironment(
    int rank, std::atomic<bool>* stop) {
  const char* address = std::getenv("MOE_COORDINATOR");
  if (address == nullptr || *address == '\0') return nullptr;
  double heartbeat_seconds = 5;
  if (const char* value = std::getenv("MOE_HEARTBEAT_S"); value != nullptr) {
    if (!absl::SimpleAtod(value, &heartbeat_seconds) || !(heartbeat_seconds > 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("environment variable MOE_HEARTBEAT_S='", value, "': expected seconds > 0"));
    }
  }
  moe::v1::WorkerRef self;
  for (auto [name, setter] : {std::pair<const char*, void (moe::v1::WorkerRef::*)(int64_t)>{
                                  "MOE_JOB_ID", &moe::v1::WorkerRef::set_job_id},
                              {"MOE_ATTEMPT_ID", &moe::v1::WorkerRef::set_attempt_id}}) {
    const char* value = std::getenv(name);
    int64_t parsed = 0;
    if (value == nullptr || !absl::SimpleAtoi(value, &parsed) || parsed <= 0) {
      return absl::InvalidArgumentError(absl::StrCat("environment variable ", name, "='",
                                                     value ? value : "", "': expected a job id"));
    }
    (self.*setter)(parsed);
  }
  self.set_rank(rank);
  self.set_pid(getpid());
  const char* token = std::getenv(common::kWorkerTokenVariable);
  if (token == nullptr || *token == '\0') {
    return absl::InvalidArgumentError(
        absl::StrCat("environment variable ", common::kWorkerTokenVariable,
                     " is not set: MOE_COORDINATOR names a moed, but this worker has no token "
                     "from it (only moed starts reporting workers)"));
  }
  ASSIGN_OR_RETURN(const common::ClientSecurity security, common::ClientSecurityFromEnvironment());
  auto rpc = std::make_unique<Rpc>();
  rpc->stub = moe::v1::WorkerService::NewStub(
      grpc::CreateChannel(address, common::ChannelCredentialsFor(security)));
  rpc->self = std::move(self);
  rpc->token = token;
  return std::unique_ptr<CoordinatorReporter>(
      new CoordinatorReporter(std::move(rpc), heartbeat_seconds, stop));
}

CoordinatorReporter::CoordinatorReporter(std::unique_ptr<Rpc> rpc, double heartbeat_seconds,
                                         std::atomic<bool>* stop)
    : rpc_(std::move(rpc)), stop_requested_(*stop) {
  using Stub = moe::v1::WorkerService::Stub;
  rpc_->Call(&Stub::RegisterWorker, rpc_->self, "register", &stop_requested_);
  heartbeat_ = std::thread([this, heartbeat_seconds] {
    while (!done_.WaitForNotificationWithTimeout(absl::Seconds(heartbeat_seconds))) {
      moe::v1::WorkerRef self = rpc_->self;
      self.set_busy(busy_);
      rpc_->Call(&Stub::Heartbeat, self, "heartbeat", &stop_requested_);
    }
  });
}

CoordinatorReporter::~CoordinatorReporter() {
  done_.Notify();
  heartbeat_.join();
}

void CoordinatorReporter::OnBusy(bool busy) {
  busy_ = busy;
  moe::v1::WorkerRef self = rpc_->self;
  self.set_busy(true);
  rpc_->Call(&moe::v1::WorkerService::Stub::Heartbeat, self, "heartbeat", &stop_requested_);
}

void CoordinatorReporter::OnStep(const StepReport& r) {
  if (rpc_->self.rank() != 0) return;
  moe::v1::ReportStepsRequest request;
  *request.mutable_worker() = rpc_->self;
  moe::v1::StepMetrics* m = request.add_steps();
  m->set_step(r.step);
  m->set_total_steps(r.total_steps);
  m->set_epoch(r.epoch);
  common::PutByKey(r.values, common::MetricScope::kRun, m->mutable_values());
  for (double share : r.expert_share) m->add_expert_share(share);
  for (const LayerReport& layer : r.layers) {
    moe::v1::LayerMetrics* l = m->add_layers();
    l->set_layer(layer.layer);
    for (double share : layer.expert_share) l->add_expert_share(share);
    common::PutByKey(layer.values, common::MetricScope::kLayer, l->mutable_values());
  }
  m->set_unix_s(UnixNow());
  rpc_->Call(&moe::v1::WorkerService::Stub::ReportSteps, request, "step report", &stop_requested_);
}

void CoordinatorReporter::OnCheckpoint(const CheckpointReport& checkpoint) {
  const std::string& dir = checkpoint.dir;
  if (rpc_->self.rank() != 0) return;
  moe::v1::ReportCheckpointRequest request;
  *request.mutable_worker() = rpc_->self;
  moe::v1::Checkpoint* c = request.mutable_checkpoint();
  c->set_step(checkpoint.step);
  c->set_save_seconds(checkpoint.seconds);
  c->set_stall_seconds(checkpoint.stall_seconds);
  c->set_async(checkpoint.async);
  c->set_interval_steps(checkpoint.interval_steps);
  c->set_interval_why(checkpoint.interval_why);
  c->set_path(std::filesystem::absolute(dir).string());
  c->set_epoch(checkpoint.epoch);
  c->set_data_position(checkpoint.data_position);
  c->set_world_size(checkpoint.world_size);
  c->set_bytes(checkpoint.bytes);
  if (auto sha = common::Sha256File(std::filesystem::path(dir) / common::kManifestFile); sha.ok()) {
    c->set_manifest_sha256(*sha);
  }
  rpc_->Call(&moe::v1::WorkerService::Stub::ReportCheckpoint, request, "checkpoint report",
             &stop_requested_);
}

void CoordinatorReporter::OnCheckpointFailed(const CheckpointFailure& failure) {
  if (rpc_->self.rank() != 0) return;
  moe::v1::ReportCheckpointFailureRequest request;
  *request.mutable_worker() = rpc_->self;
  request.set_step(failure.step);
  request.set_error(failure.error);
  request.set_disk_full(failure.disk_full);
  request.set_path(failure.dir);
  request.set_bytes_needed(failure.bytes_needed);
  rpc_->Call(&moe::v1::WorkerService::Stub::ReportCheckpointFailure, request,
             "checkpoint failure report", &stop_requested_);
}

}  // namespace moe::worker
