// One HTTP request over libcurl, for the cloud metadata endpoints moed polls. No redirects,
// no proxy (metadata services are link-local), a hard timeout.
#ifndef MOE_SERVER_HTTP_CLIENT_H_
#define MOE_SERVER_HTTP_CLIENT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace moe::server {

struct HttpResponse {
  long code = 0;  // HTTP status
  std::string body;
};

// Sends `method` (GET, PUT, POST) to `url` with `headers` ("Name: value") and `body`. Any HTTP
// status is a response; Unavailable, naming the URL, when no response came within
// `timeout_s` (refused, unreachable, timed out). Thread-safe.
absl::StatusOr<HttpResponse> HttpRequest(const std::string& method, const std::string& url,
                                         const std::vector<std::string>& headers = {},
                                         const std::string& body = "", double timeout_s = 2);

}  // namespace moe::server

#endif  // MOE_SERVER_HTTP_CLIENT_H_
