#include "common/rpc_security.h"

#include <openssl/crypto.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace moe::common {
namespace {

constexpr char kBearer[] = "Bearer ";

absl::StatusOr<std::string> ReadFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) return absl::InvalidArgumentError(absl::StrCat(what, " ", path, ": cannot read it"));
  return text.str();
}

absl::StatusOr<std::string> ReadToken(const std::string& path) {
  if (path.empty()) return std::string();
  ASSIGN_OR_RETURN(std::string text, ReadFile(path, "token file"));
  std::string token(absl::StripAsciiWhitespace(text.substr(0, text.find('\n'))));
  if (token.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("token file ", path, ": its first line is empty"));
  }
  return token;
}

// Accepts a call only with "authorization: Bearer <token>".
class BearerTokenProcessor : public grpc::AuthMetadataProcessor {
 public:
  explicit BearerTokenProcessor(std::string token) : expected_(kBearer + std::move(token)) {}
  bool IsBlocking() const override { return false; }
  grpc::Status Process(const InputMetadata& metadata, grpc::AuthContext*, OutputMetadata* consumed,
                       OutputMetadata*) override {
    const auto it = metadata.find("authorization");
    if (it == metadata.end()) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          "this moed needs a bearer token (moectl --token-file)");
    }
    const std::string given(it->second.data(), it->second.size());
    if (given.size() != expected_.size() ||
        CRYPTO_memcmp(given.data(), expected_.data(), given.size()) != 0) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "wrong bearer token");
    }
    consumed->insert({"authorization", given});
    return grpc::Status::OK;
  }

 private:
  const std::string expected_;
};

}  // namespace

absl::StatusOr<ClientSecurity> LoadClientSecurity(const std::string& token_file,
                                                  const std::string& tls_ca_file) {
  ClientSecurity s;
  ASSIGN_OR_RETURN(s.token, ReadToken(token_file));
  if (!tls_ca_file.empty()) {
    ASSIGN_OR_RETURN(s.tls_ca, ReadFile(tls_ca_file, "TLS CA file"));
  }
  return s;
}

absl::StatusOr<ServerSecurity> LoadServerSecurity(const std::string& token_file,
                                                  const std::string& tls_cert_file,
                                                  const std::string& tls_key_file,
                                                  const std::string& tls_client_ca_file) {
  ServerSecurity s;
  ASSIGN_OR_RETURN(s.token, ReadToken(token_file));
  if (tls_cert_file.empty() != tls_key_file.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  if (!tls_client_ca_file.empty() && tls_cert_file.empty()) {
    return absl::InvalidArgumentError("--tls-client-ca needs --tls-cert and --tls-key");
  }
  if (!tls_cert_file.empty()) {
    ASSIGN_OR_RETURN(s.tls_cert, ReadFile(tls_cert_file, "TLS certificate"));
    ASSIGN_OR_RETURN(s.tls_key, ReadFile(tls_key_file, "TLS key"));
  }
  if (!tls_client_ca_file.empty()) {
    ASSIGN_OR_RETURN(s.tls_client_ca, ReadFile(tls_client_ca_file, "TLS client CA"));
  }
  return s;
}

std::shared_ptr<grpc::ChannelCredentials> ChannelCredentialsFor(const ClientSecurity& s) {
  std::shared_ptr<grpc::ChannelCredentials> channel;
  if (!s.tls_ca.empty()) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = s.tls_ca;
    options.pem_cert_chain = s.tls_cert;
    options.pem_private_key = s.tls_key;
    channel = grpc::SslCredentials(options);
  } else if (!s.token.empty()) {
    channel = grpc::experimental::LocalCredentials(LOCAL_TCP);
  } else {
    return grpc::InsecureChannelCredentials();
  }
  if (s.token.empty()) return channel;
  return grpc::CompositeChannelCredentials(channel, grpc::AccessTokenCredentials(s.token));
}

std::shared_ptr<grpc::ServerCredentials> ServerCredentialsFor(const ServerSecurity& s) {
  std::shared_ptr<grpc::ServerCredentials> server;
  if (s.tls()) {
    grpc::SslServerCredentialsOptions options(
        s.tls_client_ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    options.pem_root_certs = s.tls_client_ca;
    options.pem_key_cert_pairs.push_back({s.tls_key, s.tls_cert});
    server = grpc::SslServerCredentials(options);
  } else if (!s.token.empty()) {
    server = grpc::experimental::LocalServerCredentials(LOCAL_TCP);
  } else {
    return grpc::InsecureServerCredentials();
  }
  if (!s.token.empty()) {
    server->SetAuthMetadataProcessor(std::make_shared<BearerTokenProcessor>(s.token));
  }
  return server;
}

absl::StatusOr<ClientSecurity> ClientSecurityFromEnvironment() {
  ClientSecurity s;
  if (const char* token = std::getenv("MOE_TOKEN"); token != nullptr) s.token = token;
  for (auto [name, field] : {std::pair{"MOE_TLS_CA", &s.tls_ca},
                             {"MOE_TLS_CERT", &s.tls_cert},
                             {"MOE_TLS_KEY", &s.tls_key}}) {
    const char* file = std::getenv(name);
    if (file != nullptr && *file != '\0') {
      ASSIGN_OR_RETURN(*field, ReadFile(file, name));
    }
  }
  return s;
}

}  // namespace moe::common
