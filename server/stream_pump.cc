#include "server/stream_pump.h"

namespace moe::server {

StreamPump::StreamPump(absl::Duration period) : period_(period), thread_([this] { Loop(); }) {}

StreamPump::~StreamPump() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
  for (PolledStream* stream : streams_) delete stream;
}

void StreamPump::Add(PolledStream* stream) {
  absl::MutexLock lock(&mu_);
  streams_.push_back(stream);
}

void StreamPump::Loop() {
  absl::MutexLock lock(&mu_);
  while (!stop_) {
    for (auto it = streams_.begin(); it != streams_.end();) {
      if ((*it)->done()) {
        delete *it;
        it = streams_.erase(it);
      } else {
        (*it)->Poll();
        ++it;
      }
    }
    mu_.AwaitWithTimeout(absl::Condition(&stop_), period_);
  }
}

}  // namespace moe::server
