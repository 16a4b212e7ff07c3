#include "server/job_service.h"

#include <fstream>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/spec_validator.h"

namespace moe::server {
namespace {

// Finishes a unary call with `result`'s status, copying its value into *response when OK.
template <typename T>
grpc::ServerUnaryReactor* Respond(grpc::CallbackServerContext* context,
                                  const absl::StatusOr<T>& result, T* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (result.ok()) *response = *result;
  reactor->Finish(ToGrpc(result.status()));
  return reactor;
}

}  // namespace

grpc::ServerUnaryReactor* JobServiceImpl::SubmitJob(grpc::CallbackServerContext* context,
                                                    const moe::v1::SubmitJobRequest* request,
                                                    moe::v1::Job* response) {
  // moectl checked the spec already; check again, against this machine's files.
  absl::Status valid = common::CheckSpecSize(request->spec());
  if (valid.ok()) valid = common::ValidateJobSpec(request->spec());
  if (!valid.ok()) return Respond<moe::v1::Job>(context, valid, response);
  return Respond(context, coordinator_.Submit(request->spec(), request->unique_output_dir()),
                 response);
}

grpc::ServerUnaryReactor* JobServiceImpl::GetJob(grpc::CallbackServerContext* context,
                                                 const moe::v1::JobRef* request,
                                                 moe::v1::Job* response) {
  return Respond(context, catalogue_.GetJob(request->id()), response);
}

grpc::ServerUnaryReactor* JobServiceImpl::ListJobs(grpc::CallbackServerContext* context,
                                                   const moe::v1::ListJobsRequest* request,
                                                   moe::v1::ListJobsResponse* response) {
  using Response = moe::v1::ListJobsResponse;
  Catalogue::JobQuery query;
  if (request->page_size() < 0 || request->page_size() > kMaxPageSize) {
    return Respond<Response>(
        context,
        absl::InvalidArgumentError(absl::StrCat("page_size ", request->page_size(),
                                                ": must be 0 (100) to ", kMaxPageSize)),
        response);
  }
  query.limit = request->page_size() == 0 ? 100 : request->page_size();
  query.oldest_first = request->oldest_first();
  for (int state : request->states()) query.states.push_back(static_cast<moe::v1::JobState>(state));
  if (!request->page_token().empty() &&
      (!absl::SimpleAtoi(request->page_token(), &query.after_id) || query.after_id <= 0)) {
    return Respond<Response>(
        context,
        absl::InvalidArgumentError(
            absl::StrCat("page_token '", request->page_token(), "' is not one ListJobs returned")),
        response);
  }
  ++query.limit;  // one more than asked: whether another page follows
  auto jobs = catalogue_.ListJobSummaries(query);
  if (!jobs.ok()) return Respond<Response>(context, jobs.status(), response);
  Response result;
  const bool more = static_cast<int>(jobs->size()) == query.limit;
  if (more) jobs->pop_back();
  if (more && !jobs->empty()) result.set_next_page_token(absl::StrCat(jobs->back().id()));
  for (moe::v1::Job& job : *jobs) *result.add_jobs() = std::move(job);
  return Respond<Response>(context, result, response);
}

grpc::ServerUnaryReactor* JobServiceImpl::DeleteJob(grpc::CallbackServerContext* context,
                                                    const moe::v1::DeleteJobRequest* request,
                                                    moe::v1::DeleteJobResponse* response) {
  return Respond(context, coordinator_.Delete(request->id(), request->files()), response);
}

grpc::ServerUnaryReactor* JobServiceImpl::CancelJob(grpc::CallbackServerContext* context,
                                                    const moe::v1::JobRef* request,
                                                    moe::v1::Job* response) {
  return Respond(context, coordinator_.Cancel(request->id()), response);
}

grpc::ServerUnaryReactor* JobServiceImpl::ResumeJob(grpc::CallbackServerContext* context,
                                                    const moe::v1::ResumeJobRequest* request,
                                                    moe::v1::Job* response) {
  if (request->world_size() < 0 || request->from_step() < 0) {
    return Respond<moe::v1::Job>(
        context, absl::InvalidArgumentError("from_step and world_size must be >= 0"), response);
  }
  return Respond(context,
                 coordinator_.Resume(request->id(), request->from_step(), request->world_size()),
                 response);
}

grpc::ServerUnaryReactor* JobServiceImpl::ListCheckpoints(
    grpc::CallbackServerContext* context, const moe::v1::JobRef* request,
    moe::v1::ListCheckpointsResponse* response) {
  using Response = moe::v1::ListCheckpointsResponse;
  if (auto job = catalogue_.GetJob(request->id()); !job.ok()) {
    return Respond<Response>(context, job.status(), response);
  }
  auto checkpoints = catalogue_.ListCheckpoints(request->id());
  if (!checkpoints.ok()) return Respond<Response>(context, checkpoints.status(), response);
  Response result;
  for (moe::v1::Checkpoint& c : *checkpoints) *result.add_checkpoints() = std::move(c);
  return Respond<Response>(context, result, response);
}

grpc::ServerUnaryReactor* JobServiceImpl::ListAttempts(grpc::CallbackServerContext* context,
                                                       const moe::v1::JobRef* request,
                                                       moe::v1::ListAttemptsResponse* response) {
  using Response = moe::v1::ListAttemptsResponse;
  if (auto job = catalogue_.GetJob(request->id()); !job.ok()) {
    return Respond<Response>(context, job.status(), response);
  }
  auto attempts = catalogue_.ListAttempts(request->id());
  if (!attempts.ok()) return Respond<Response>(context, attempts.status(), response);
  Response result;
  for (moe::v1::Attempt& a : *attempts) *result.add_attempts() = std::move(a);
  return Respond<Response>(context, result, response);
}

grpc::ServerWriteReactor<moe::v1::JobProgress>* JobServiceImpl::WatchJob(
    grpc::CallbackServerContext*, const moe::v1::JobRef* request) {
  struct Seen {
    int64_t version = -1, step = 0;
    std::set<int64_t> checkpoints;
    bool final_sent = false;
  };
  auto seen = std::make_shared<Seen>();
  const int64_t id = request->id();
  return new PollingWriter<moe::v1::JobProgress>(
      pump_, [this, id, seen](moe::v1::JobProgress* progress) -> absl::StatusOr<Next> {
        if (seen->final_sent) return Next::kDone;
        const int64_t version = coordinator_.version();
        if (version == seen->version) return Next::kWait;
        seen->version = version;
        auto job = catalogue_.GetJob(id);
        if (!job.ok()) return job.status();
        auto steps = catalogue_.StepsAfter(id, seen->step);
        auto checkpoints = catalogue_.ListCheckpoints(id);
        if (!steps.ok()) return steps.status();
        if (!checkpoints.ok()) return checkpoints.status();
        for (moe::v1::StepMetrics& s : *steps) {
          seen->step = std::max(seen->step, s.step());
          *progress->add_steps() = std::move(s);
        }
        for (auto it = checkpoints->rbegin(); it != checkpoints->rend(); ++it) {
          if (seen->checkpoints.insert(it->step()).second) *progress->add_checkpoints() = *it;
        }
        seen->final_sent = IsFinal(job->state());
        *progress->mutable_job() = std::move(*job);
        return Next::kWrite;
      });
}

grpc::ServerWriteReactor<moe::v1::LogChunk>* JobServiceImpl::GetLogs(
    grpc::CallbackServerContext*, const moe::v1::GetLogsRequest* request) {
  struct Cursor {
    std::filesystem::path path;
    int64_t attempt_id = 0;
    std::streamoff offset = 0;
  };
  auto cursor = std::make_shared<Cursor>();
  const moe::v1::GetLogsRequest r = *request;
  return new PollingWriter<moe::v1::LogChunk>(
      pump_, [this, r, cursor](moe::v1::LogChunk* chunk) -> absl::StatusOr<Next> {
        if (cursor->path.empty()) {
          auto path = coordinator_.LogPath(r.id(), r.attempt_id(), r.rank());
          if (!path.ok()) return path.status();
          cursor->path = *path;
        }
        std::ifstream in(cursor->path, std::ios::binary);
        if (in) {
          in.seekg(cursor->offset);
          std::string data(64 << 10, '\0');
          in.read(data.data(), static_cast<std::streamsize>(data.size()));
          data.resize(static_cast<size_t>(in.gcount()));
          if (!data.empty()) {
            cursor->offset += static_cast<std::streamoff>(data.size());
            chunk->set_data(std::move(data));
            return Next::kWrite;
          }
        }
        if (!r.follow()) return Next::kDone;
        auto job = catalogue_.GetJob(r.id());
        if (!job.ok()) return job.status();
        return job->state() == moe::v1::JOB_STATE_RUNNING ||
                       job->state() == moe::v1::JOB_STATE_QUEUED
                   ? Next::kWait
                   : Next::kDone;
      });
}

}  // namespace moe::server
