// How many step reports per second moed takes into its catalogue: ReportSteps calls from
// several threads against a real moed on loopback (a job whose worker only sleeps keeps the
// attempt open), side by side with the same batches written straight into a Catalogue (the
// SQLite floor under the gRPC path). Prints one JSON object per batch size.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <thread>

#include "CLI/CLI.hpp"
#include "common/step_metrics.h"
#include "common/worker_token.h"
#include "moe/v1/service.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "server/catalogue.h"

namespace {

using Clock = std::chrono::steady_clock;

std::vector<moe::v1::StepMetrics> Batch(int64_t first, int size) {
  std::vector<moe::v1::StepMetrics> steps(size);
  for (int i = 0; i < size; ++i) {
    steps[i].set_step(first + i);
    steps[i].set_total_steps(1 << 30);
    moe::common::StepValues values;
    values.fill(0.5);  // every run metric of the table, as a worker reports them
    moe::common::PutByKey(values, moe::common::MetricScope::kRun, steps[i].mutable_values());
    for (int e = 0; e < 8; ++e) steps[i].add_expert_share(0.125);
  }
  return steps;
}

// Runs `call(thread, first_step)` from `threads` threads for `seconds`; returns calls made.
int64_t Hammer(int threads, double seconds, const std::function<bool(int, int64_t)>& call,
               int batch) {
  std::atomic<int64_t> calls{0};
  std::atomic<bool> failed{false};
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int64_t n = 0; Clock::now() < end && !failed; ++n) {
        if (!call(t, (static_cast<int64_t>(t) << 40) + n * batch)) failed = true;
        ++calls;
      }
    });
  }
  for (auto& thread : pool) thread.join();
  if (failed) std::cerr << "a call failed" << std::endl;
  return calls;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Step reports per second into moed (gRPC) and into SQLite directly"};
  std::string address, db_path = "/tmp/moe_bench_ingest.db";
  int64_t job = 1, attempt = 1;
  int threads = 4;
  double seconds = 3;
  std::vector<int> batches = {1, 10, 100};
  app.add_option("--moed", address, "moed's address")->required();
  app.add_option("--job", job);
  app.add_option("--attempt", attempt);
  std::string token;
  app.add_option("--token", token, "The worker token of rank 0 (its MOE_WORKER_TOKEN)")->required();
  app.add_option("--threads", threads);
  app.add_option("--seconds", seconds);
  app.add_option("--batches", batches);
  app.add_option("--db", db_path, "Scratch database for the direct SQLite baseline");
  CLI11_PARSE(app, argc, argv);

  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  auto stub = moe::v1::WorkerService::NewStub(channel);
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((db_path + suffix).c_str());
  auto catalogue = moe::server::Catalogue::Open(db_path);
  if (!catalogue.ok()) {
    std::cerr << catalogue.status() << std::endl;
    return 1;
  }
  moe::v1::JobSpec spec;
  spec.set_name("bench");
  const int64_t direct_job = *(*catalogue)->CreateJob(spec, "/tmp", 0);

  for (int batch : batches) {
    const int64_t rpc_calls = Hammer(
        threads, seconds,
        [&](int, int64_t first) {
          moe::v1::ReportStepsRequest request;
          request.mutable_worker()->set_job_id(job);
          request.mutable_worker()->set_attempt_id(attempt);
          for (auto& s : Batch(first, batch)) *request.add_steps() = std::move(s);
          grpc::ClientContext context;
          context.AddMetadata(moe::common::kWorkerTokenHeader, token);
          moe::v1::WorkerReply reply;
          const grpc::Status status = stub->ReportSteps(&context, request, &reply);
          if (!status.ok()) std::cerr << status.error_message() << std::endl;
          return status.ok();
        },
        batch);
    const int64_t direct_calls = Hammer(
        threads, seconds,
        [&](int, int64_t first) {
          return (*catalogue)->AddSteps(direct_job, 1, Batch(first, batch)).ok();
        },
        batch);
    const double moed_rate = rpc_calls * batch / seconds,
                 sqlite_rate = direct_calls * batch / seconds;
    std::cout << nlohmann::json{{"batch", batch},
                                {"threads", threads},
                                {"moed_steps_per_s", moed_rate},
                                {"moed_calls_per_s", rpc_calls / seconds},
                                {"sqlite_direct_steps_per_s", sqlite_rate},
                                {"moed_over_direct", moed_rate / sqlite_rate}}
                     .dump()
              << std::endl;
  }
  return 0;
}
