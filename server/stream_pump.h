// Server-streaming RPCs that wait for something to happen (WatchJob, GetLogs -f) under gRPC's
// callback API: each stream is a PollingWriter whose source says, when polled, whether it has
// a message to write, nothing yet, or is done. A StreamPump thread polls every stream every
// `period`; a stream is also polled as soon as its previous write completes.
//
// Lifetime: gRPC owns nothing here. A stream deletes itself from the pump's thread after gRPC
// calls OnDone (its last callback), so no callback can run on a deleted stream.
#ifndef MOE_SERVER_STREAM_PUMP_H_
#define MOE_SERVER_STREAM_PUMP_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <list>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace moe::server {

// absl codes are gRPC's codes.
inline grpc::Status ToGrpc(const absl::Status& status) {
  return status.ok() ? grpc::Status::OK
                     : grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                                    std::string(status.message()));
}

class PolledStream {
 public:
  virtual ~PolledStream() = default;
  virtual void Poll() = 0;
  bool done() const { return done_; }

 protected:
  std::atomic<bool> done_{false};
};

class StreamPump {
 public:
  explicit StreamPump(absl::Duration period = absl::Milliseconds(100));
  ~StreamPump();  // deletes the streams left (call after the gRPC server has shut down)
  void Add(PolledStream* stream);

 private:
  void Loop();
  const absl::Duration period_;
  absl::Mutex mu_;
  std::list<PolledStream*> streams_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

enum class Next { kWrite, kWait, kDone };

template <typename Message>
class PollingWriter : public grpc::ServerWriteReactor<Message>, public PolledStream {
 public:
  // `source` fills *message and returns kWrite, or returns kWait or kDone; an error status
  // finishes the RPC with it. Called under this stream's lock, from one thread at a time.
  using Source = std::function<absl::StatusOr<Next>(Message* message)>;

  PollingWriter(StreamPump& pump, Source source) : source_(std::move(source)) {
    Poll();
    pump.Add(this);
  }

  void Poll() override {
    absl::MutexLock lock(&mu_);
    if (writing_ || finished_) return;
    message_.Clear();
    const absl::StatusOr<Next> next = source_(&message_);
    if (!next.ok() || *next == Next::kDone) {
      finished_ = true;
      this->Finish(ToGrpc(next.status()));
    } else if (*next == Next::kWrite) {
      writing_ = true;
      this->StartWrite(&message_);
    }
  }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok && !finished_) {  // the client went away
        finished_ = true;
        this->Finish(grpc::Status::CANCELLED);
      }
    }
    Poll();
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    finished_ = true;
    this->Finish(grpc::Status::CANCELLED);
  }

  void OnDone() override { done_ = true; }

 private:
  absl::Mutex mu_;
  Source source_;
  Message message_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace moe::server

#endif  // MOE_SERVER_STREAM_PUMP_H_
