// Who may talk to moed, and how the channel is protected: one place for moed (server side),
// moectl and the workers (client side).
//
//   nothing set       insecure channel; moed listens on loopback only (its default address)
//   a bearer token    every call carries "authorization: Bearer <token>" and moed refuses
//                     calls without it (UNAUTHENTICATED); without TLS the channel is gRPC's
//                     local credentials, which accept loopback peers only
//   TLS               moed presents a certificate (and, with a client CA, requires one);
//                     clients verify it against their CA. Combines with a token.
// Tokens are compared in constant time and never logged.
#ifndef MOE_COMMON_RPC_SECURITY_H_
#define MOE_COMMON_RPC_SECURITY_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace moe::common {

struct ClientSecurity {
  std::string token;   // "" for none
  std::string tls_ca;  // PEM of the CA moed's certificate is checked against; "" for no TLS
  std::string tls_cert, tls_key;  // PEM; this client's certificate, when moed requires one
};

struct ServerSecurity {
  std::string token;              // "" for none
  std::string tls_cert, tls_key;  // PEM; both or neither
  std::string tls_client_ca;      // PEM; clients must present a certificate it signed
  bool tls() const { return !tls_cert.empty(); }
};

// Reads a token file (its first line, without surrounding whitespace) and a CA file; "" skips
// either. InvalidArgument naming the file when it cannot be read or the token is empty.
absl::StatusOr<ClientSecurity> LoadClientSecurity(const std::string& token_file,
                                                  const std::string& tls_ca_file);
// As above for moed; a certificate needs its key and the other way round.
absl::StatusOr<ServerSecurity> LoadServerSecurity(const std::string& token_file,
                                                  const std::string& tls_cert_file,
                                                  const std::string& tls_key_file,
                                                  const std::string& tls_client_ca_file);

std::shared_ptr<grpc::ChannelCredentials> ChannelCredentialsFor(const ClientSecurity& security);
std::shared_ptr<grpc::ServerCredentials> ServerCredentialsFor(const ServerSecurity& security);

// A worker's security from moed's environment: MOE_TOKEN (the token itself, private to the
// process), MOE_TLS_CA and, for mutual TLS, MOE_TLS_CERT and MOE_TLS_KEY (files).
absl::StatusOr<ClientSecurity> ClientSecurityFromEnvironment();

}  // namespace moe::common

#endif  // MOE_COMMON_RPC_SECURITY_H_
