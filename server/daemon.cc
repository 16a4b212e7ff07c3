#include "server/daemon.h"

#include <unistd.h>

#include <chrono>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "server/local_launcher.h"
#include "server/slurm_launcher.h"

namespace moe::server {
namespace {

double UnixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(DaemonOptions options) {
  std::error_code ec;
  options.data_dir = std::filesystem::absolute(options.data_dir, ec);
  std::filesystem::create_directories(options.data_dir / "jobs", ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("data directory ", options.data_dir.string(), ": ", ec.message()));
  }
  std::unique_ptr<Daemon> d(new Daemon());
  ASSIGN_OR_RETURN(d->lock_, DataDirLock::Acquire(options.data_dir));
  ASSIGN_OR_RETURN(d->catalogue_, Catalogue::Open((options.data_dir / "moed.db").string()));
  ASSIGN_OR_RETURN(options.coordinator.catalogue_id, d->catalogue_->CatalogueId());

  d->pump_ = std::make_unique<StreamPump>();
  grpc::ServerBuilder builder;
  const std::string host = options.listen.substr(0, options.listen.rfind(':'));
  const bool loopback = host == "localhost" || absl::StartsWith(host, "127.") || host == "[::1]";
  if (!loopback && options.security.token.empty() && options.security.tls_client_ca.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--listen ", options.listen,
        " is reachable from other machines: give moed a bearer "
        "token (--token-file) and TLS (--tls-cert, --tls-key; without TLS only loopback "
        "clients get in), or client certificates (--tls-client-ca)"));
  }
  builder.AddListeningPort(options.listen, common::ServerCredentialsFor(options.security),
                           &d->port_);
  // Set deliberately: requests carry at most a 1 MiB spec (SubmitJob refuses more, in words,
  // up to this limit); replies are pages of summaries, one spec, 64 KiB log chunks.
  builder.SetMaxReceiveMessageSize(4 << 20);
  builder.SetMaxSendMessageSize(16 << 20);
  options.coordinator.data_dir = options.data_dir;
  // How the workers reach moed: the same token and TLS (in their environment, never logged).
  if (!options.security.token.empty()) {
    options.coordinator.worker_env.push_back("MOE_TOKEN=" + options.security.token);
  }
  if (options.security.tls()) {
    options.coordinator.worker_env.push_back("MOE_TLS_CA=" + options.worker_tls_ca_file);
    if (!options.security.tls_client_ca.empty()) {
      options.coordinator.worker_env.push_back("MOE_TLS_CERT=" + options.worker_tls_cert_file);
      options.coordinator.worker_env.push_back("MOE_TLS_KEY=" + options.worker_tls_key_file);
    }
  }
  d->metrics_ = std::make_unique<CoordinatorMetrics>();
  d->gpus_ = GpuMonitor::Open(options.nvml_library);
  // Admission's memory where the flags did not give it: the smallest GPU, the physical memory.
  MemoryLimits& local = options.coordinator.memory.local;
  if (local.gpu_bytes == 0 && d->gpus_) {
    for (const GpuReading& gpu : d->gpus_->Read()) {
      const auto total = static_cast<int64_t>(gpu.memory_total_bytes);
      if (total > 0 && (local.gpu_bytes == 0 || total < local.gpu_bytes)) local.gpu_bytes = total;
    }
  }
  if (local.host_bytes == 0) local.host_bytes = PhysicalMemoryBytes();
  if (options.coordinator.slots == 0) {
    options.coordinator.slots =
        d->gpus_ ? d->gpus_->device_count()
                 : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  if (!options.metrics_listen.empty()) {
    try {
      d->exposer_ = std::make_unique<prometheus::Exposer>(options.metrics_listen);
    } catch (const std::exception& e) {
      return absl::UnavailableError(
          absl::StrCat("metrics: cannot listen on ", options.metrics_listen, ": ", e.what()));
    }
    d->exposer_->RegisterCollectable(d->metrics_->registry());
    d->metrics_port_ = d->exposer_->GetListeningPorts().at(0);
  }
  // moed's launchers: a new one is its own files plus a line here.
  d->launchers_ = std::make_unique<LauncherRegistry>(options.coordinator.default_launcher);
  d->launchers_->Register(moe::v1::LAUNCHER_LOCAL, std::make_unique<LocalLauncher>());
  d->launchers_->Register(moe::v1::LAUNCHER_SLURM,
                          std::make_unique<SlurmLauncher>(options.coordinator.slurm));
  d->coordinator_ = std::make_unique<Coordinator>(*d->catalogue_, *d->metrics_, *d->launchers_,
                                                  options.coordinator, UnixNow);
  d->job_service_ = std::make_unique<JobServiceImpl>(*d->coordinator_, *d->catalogue_, *d->pump_);
  d->worker_service_ = std::make_unique<WorkerServiceImpl>(*d->coordinator_, *d->metrics_);
  builder.RegisterService(d->job_service_.get());
  builder.RegisterService(d->worker_service_.get());
  d->server_ = builder.BuildAndStart();
  if (d->server_ == nullptr || d->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen));
  }
  // Now that the port is known, workers can be told where to report.
  // Workers elsewhere (Slurm's nodes) need a name for this machine that they can reach.
  std::string remote_host = options.advertise_host;
  if (remote_host.empty()) {
    char name[256] = {};
    remote_host = host == "0.0.0.0" && gethostname(name, sizeof(name) - 1) == 0 ? name : host;
  }
  d->coordinator_->SetWorkerAddress(
      absl::StrCat(host == "0.0.0.0" ? "127.0.0.1" : host, ":", d->port_),
      absl::StrCat(remote_host, ":", d->port_));
  RETURN_IF_ERROR(d->coordinator_->Recover());
  spdlog::info("moed: listening on {}:{}, metrics on port {}, {} {} slots, data in {}", host,
               d->port_, d->metrics_port_, options.coordinator.slots, d->gpus_ ? "GPU" : "CPU",
               options.data_dir.string());
  Daemon* raw = d.get();
  // The workers are this thread's children (it starts them in Tick), and they die with the
  // thread that started them (PR_SET_PDEATHSIG), so it is also the thread that stops them.
  d->supervisor_ = std::thread([raw] {
    for (int tick = 0; !raw->stopping_.WaitForNotificationWithTimeout(absl::Milliseconds(100));
         ++tick) {
      raw->coordinator_->Tick();
      if (raw->gpus_ && tick % 20 == 0) {  // every 2 s
        for (const GpuReading& reading : raw->gpus_->Read()) raw->metrics_->SetGpu(reading);
      }
    }
    raw->coordinator_->Shutdown(raw->stop_cause_);
  });
  return d;
}

Daemon::~Daemon() { Stop(); }

void Daemon::Stop(moe::v1::AttemptCause cause) {
  if (stopped_) return;
  stopped_ = true;
  stop_cause_ = cause;  // read by the supervisor once notified
  stopping_.Notify();
  if (supervisor_.joinable()) supervisor_.join();
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  pump_.reset();
}

}  // namespace moe::server
