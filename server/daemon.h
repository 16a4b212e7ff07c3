// moed assembled: the catalogue, the coordinator, the gRPC server (JobService and
// WorkerService) and the supervisor thread that ticks the coordinator.
#ifndef MOE_SERVER_DAEMON_H_
#define MOE_SERVER_DAEMON_H_

#include <grpcpp/grpcpp.h>
#include <prometheus/exposer.h>

#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "common/rpc_security.h"
#include "server/catalogue.h"
#include "server/coordinator.h"
#include "server/data_dir_lock.h"
#include "server/gpu_monitor.h"
#include "server/job_service.h"
#include "server/launcher_registry.h"
#include "server/stream_pump.h"
#include "server/worker_service.h"

namespace moe::server {

struct DaemonOptions {
  std::filesystem::path data_dir;                  // moed.db, jobs/
  std::string listen = "127.0.0.1:50051";          // port 0: any free port
  std::string metrics_listen = "127.0.0.1:9464";   // Prometheus /metrics; "" for none
  std::string nvml_library = "libnvidia-ml.so.1";  // GPU metrics and inventory, when present
  // coordinator.slots 0: one per GPU NVML sees, else one per CPU core.
  CoordinatorOptions coordinator;  // data_dir and worker_address are filled in
  // Bearer token and TLS (common/rpc_security.h). A non-loopback `listen` needs a token.
  common::ServerSecurity security;
  // Files the workers use to reach moed under TLS: the CA that signed moed's certificate
  // (default: --tls-cert, right for a self-signed one) and, when moed requires client
  // certificates, theirs (default: moed's own certificate and key).
  std::string worker_tls_ca_file, worker_tls_cert_file, worker_tls_key_file;
  // The host name workers on other machines (Slurm's nodes) reach moed by; "": the listen
  // host, or this machine's host name when listening on 0.0.0.0.
  std::string advertise_host;
};

class Daemon {
 public:
  // Locks (creating) the data directory, opens the catalogue, resumes interrupted jobs, and
  // serves. FailedPrecondition when another moed holds the directory; Unavailable when the
  // address cannot be bound; the catalogue's errors otherwise.
  static absl::StatusOr<std::unique_ptr<Daemon>> Start(DaemonOptions options);
  ~Daemon();  // Stop()

  // The ports the gRPC server and the metrics exposer listen on (0: no exposer).
  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }
  // Stops every attempt gracefully, recorded with `cause` (their jobs become INTERRUPTED,
  // resumed at the next start), then the server. Returns once the workers are gone.
  // Idempotent.
  void Stop(moe::v1::AttemptCause cause = moe::v1::ATTEMPT_CAUSE_PREEMPTED);

 private:
  Daemon() = default;

  std::unique_ptr<DataDirLock> lock_;  // first in, last out
  std::unique_ptr<Catalogue> catalogue_;
  std::unique_ptr<CoordinatorMetrics> metrics_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::unique_ptr<GpuMonitor> gpus_;  // null without NVML or GPUs
  std::unique_ptr<LauncherRegistry> launchers_;
  std::unique_ptr<Coordinator> coordinator_;
  std::unique_ptr<StreamPump> pump_;
  std::unique_ptr<JobServiceImpl> job_service_;
  std::unique_ptr<WorkerServiceImpl> worker_service_;
  std::unique_ptr<grpc::Server> server_;
  std::thread supervisor_;
  absl::Notification stopping_;
  moe::v1::AttemptCause stop_cause_ = moe::v1::ATTEMPT_CAUSE_PREEMPTED;  // set before stopping_
  bool stopped_ = false;
  int port_ = 0, metrics_port_ = 0;
};

}  // namespace moe::server

#endif  // MOE_SERVER_DAEMON_H_
