#include "server/preemption_notice.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "server/http_client.h"

namespace moe::server {
namespace {

constexpr char kAwsDefaultUrl[] = "http://169.254.169.254";
constexpr char kGcpDefaultUrl[] = "http://metadata.google.internal";
constexpr char kAwsTokenTtl[] = "X-aws-ec2-metadata-token-ttl-seconds: 21600";

std::string Unexpected(const std::string& what, const HttpResponse& r) {
  return absl::StrCat(what, " answered HTTP ", r.code, ": ", r.body.substr(0, 200));
}

}  // namespace

absl::StatusOr<NoticeSource> ParseNoticeSource(const std::string& text,
                                               const std::string& metadata_url) {
  NoticeSource source;
  std::string base = metadata_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  if (text == "aws") {
    source.kind = NoticeSource::Kind::kAws;
    source.target = base.empty() ? kAwsDefaultUrl : base;
  } else if (text == "gcp") {
    source.kind = NoticeSource::Kind::kGcp;
    source.target = base.empty() ? kGcpDefaultUrl : base;
  } else if (absl::StartsWith(text, "file:") && text.size() > 5) {
    source.kind = NoticeSource::Kind::kFile;
    source.target = text.substr(5);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--preemption-notice '", text, "': expected aws, gcp or file:PATH"));
  }
  return source;
}

absl::StatusOr<std::optional<std::string>> NoticePoller::Poll() {
  switch (source_.kind) {
    case NoticeSource::Kind::kAws:
      return PollAws();
    case NoticeSource::Kind::kGcp:
      return PollGcp();
    case NoticeSource::Kind::kFile:
      return PollFile();
  }
  return std::nullopt;
}

absl::StatusOr<std::optional<std::string>> NoticePoller::PollAws() {
  const std::string token_url = source_.target + "/latest/api/token";
  const std::string action_url = source_.target + "/latest/meta-data/spot/instance-action";
  for (int tries = 0; tries < 2; ++tries) {
    if (aws_token_.empty()) {
      ASSIGN_OR_RETURN(const HttpResponse token, HttpRequest("PUT", token_url, {kAwsTokenTtl}));
      if (token.code != 200 || token.body.empty()) {
        return absl::UnavailableError(Unexpected("IMDSv2 token " + token_url, token));
      }
      aws_token_ = token.body;
    }
    ASSIGN_OR_RETURN(
        const HttpResponse r,
        HttpRequest("GET", action_url, {absl::StrCat("X-aws-ec2-metadata-token: ", aws_token_)}));
    if (r.code == 401) {  // the token expired: renew it once
      aws_token_.clear();
      continue;
    }
    if (r.code == 404) return std::nullopt;  // no instance action scheduled
    if (r.code != 200) return absl::UnavailableError(Unexpected(action_url, r));
    const nlohmann::json action =
        nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
    if (!action.is_object()) return absl::UnavailableError(Unexpected(action_url, r));
    return absl::StrCat("aws: spot instance-action ", action.value("action", "?"), " at ",
                        action.value("time", "?"));
  }
  return absl::UnavailableError(
      absl::StrCat(action_url, " refused a fresh IMDSv2 token (HTTP 401)"));
}

absl::StatusOr<std::optional<std::string>> NoticePoller::PollGcp() {
  const std::string url = source_.target + "/computeMetadata/v1/instance/preempted";
  ASSIGN_OR_RETURN(const HttpResponse r, HttpRequest("GET", url, {"Metadata-Flavor: Google"}));
  if (r.code != 200) return absl::UnavailableError(Unexpected(url, r));
  std::string value = r.body;
  absl::StripAsciiWhitespace(&value);
  if (value == "FALSE") return std::nullopt;
  if (value == "TRUE") return std::string("gcp: instance preempted");
  return absl::UnavailableError(Unexpected(url, r));
}

absl::StatusOr<std::optional<std::string>> NoticePoller::PollFile() {
  std::error_code ec;
  if (!std::filesystem::exists(source_.target, ec)) return std::nullopt;
  std::ifstream in(source_.target);
  std::stringstream text;
  text << in.rdbuf();
  std::string content = text.str().substr(0, 200);
  absl::StripAsciiWhitespace(&content);
  return absl::StrCat("file ", source_.target, content.empty() ? "" : ": ", content);
}

PreemptionWatcher::PreemptionWatcher(std::vector<NoticeSource> sources, double poll_s,
                                     std::function<void(const std::string&)> on_notice)
    : on_notice_(std::move(on_notice)) {
  for (NoticeSource& s : sources) pollers_.emplace_back(std::move(s));
  if (!pollers_.empty()) thread_ = std::thread([this, poll_s] { Run(poll_s); });
}

PreemptionWatcher::~PreemptionWatcher() {
  done_.Notify();
  if (thread_.joinable()) thread_.join();
}

void PreemptionWatcher::Run(double poll_s) {
  std::vector<std::string> last_error(pollers_.size());
  do {
    for (size_t i = 0; i < pollers_.size(); ++i) {
      const auto notice = pollers_[i].Poll();
      if (!notice.ok()) {
        if (std::string(notice.status().message()) != last_error[i]) {
          last_error[i] = std::string(notice.status().message());
          spdlog::warn("preemption notice: {}", last_error[i]);
        }
        continue;
      }
      if (!last_error[i].empty())
        spdlog::info("preemption notice: {} answers again", pollers_[i].source().target);
      last_error[i].clear();
      if (notice->has_value()) {
        on_notice_(**notice);
        return;
      }
    }
  } while (!done_.WaitForNotificationWithTimeout(absl::Seconds(poll_s)));
}

}  // namespace moe::server
