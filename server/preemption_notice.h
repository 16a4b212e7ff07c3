// Spot / preemption notices: the machine is about to go away (AWS gives 2 minutes, GCP 30 s).
// moed polls each configured source and, on the first notice, stops its workers gracefully
// (each commits a checkpoint of the step they agree on) and exits, as for SIGTERM.
//
// Sources (moed --preemption-notice, repeatable):
//   aws        EC2 instance metadata with IMDSv2: PUT /latest/api/token (TTL header) for a
//              session token, then GET /latest/meta-data/spot/instance-action with it; 404
//              means no notice, 200 carries {"action": "terminate|stop|hibernate", "time"}. An
//              expired token (401) is renewed once per poll.
//   gcp        GCE metadata: GET /computeMetadata/v1/instance/preempted with the
//              "Metadata-Flavor: Google" header; "TRUE" once the instance is being preempted.
//   file:PATH  a file that appears (e.g. touched by a Kubernetes preStop hook).
// The metadata base URL defaults to the cloud's (http://169.254.169.254,
// http://metadata.google.internal) and can be set, so tests serve it on loopback.
#ifndef MOE_SERVER_PREEMPTION_NOTICE_H_
#define MOE_SERVER_PREEMPTION_NOTICE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"

namespace moe::server {

struct NoticeSource {
  enum class Kind { kAws, kGcp, kFile };
  Kind kind = Kind::kFile;
  std::string target;  // the metadata base URL, or the file's path
};

// Parses "aws", "gcp" or "file:PATH"; `metadata_url` ("" for the cloud's own) is the base URL
// of aws and gcp. InvalidArgument naming the text and the accepted forms otherwise.
absl::StatusOr<NoticeSource> ParseNoticeSource(const std::string& text,
                                               const std::string& metadata_url = "");

// Asks one source whether the machine is going away. Not thread-safe (it keeps the IMDSv2
// token between polls).
class NoticePoller {
 public:
  explicit NoticePoller(NoticeSource source) : source_(std::move(source)) {}

  // A description of the notice ("aws: spot instance-action terminate at 2026-...") when
  // there is one, nullopt when not; Unavailable when the endpoint cannot be asked or answers
  // what it should not (which is no notice: moed keeps polling).
  absl::StatusOr<std::optional<std::string>> Poll();
  const NoticeSource& source() const { return source_; }

 private:
  absl::StatusOr<std::optional<std::string>> PollAws();
  absl::StatusOr<std::optional<std::string>> PollGcp();
  absl::StatusOr<std::optional<std::string>> PollFile();

  const NoticeSource source_;
  std::string aws_token_;  // IMDSv2 session token, renewed when refused
};

// Polls every source every `poll_s` seconds on a thread of its own and calls `on_notice` once,
// with the notice's description, when the first one arrives. Errors are logged (once per
// change, not per poll) and polling goes on. Destroying it stops the thread.
class PreemptionWatcher {
 public:
  PreemptionWatcher(std::vector<NoticeSource> sources, double poll_s,
                    std::function<void(const std::string&)> on_notice);
  ~PreemptionWatcher();

 private:
  void Run(double poll_s);

  std::vector<NoticePoller> pollers_;
  const std::function<void(const std::string&)> on_notice_;
  absl::Notification done_;
  std::thread thread_;
};

}  // namespace moe::server

#endif  // MOE_SERVER_PREEMPTION_NOTICE_H_
