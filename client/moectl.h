// moectl's commands. RunMoectl is main's whole body, so tests drive it in-process too.
//
// Exit codes (for scripts):
//   0  done
//   1  moed refused or failed the request (the message says why)
//   2  bad usage or an invalid job spec (every problem is listed)
//   3  the watched job ended FAILED or CANCELLED
//   4  moed cannot be reached
#ifndef MOE_CLIENT_MOECTL_H_
#define MOE_CLIENT_MOECTL_H_

namespace moe::client {

inline constexpr int kExitRefused = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitJobFailed = 3;
inline constexpr int kExitUnreachable = 4;

int RunMoectl(int argc, char** argv);

}  // namespace moe::client

#endif  // MOE_CLIENT_MOECTL_H_
