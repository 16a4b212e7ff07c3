#include "common/output_owner.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/durable_file.h"
#include "common/status_macros.h"

namespace moe::common {

std::string OwnerName(const std::string& catalogue_id, int64_t job_id) {
  return absl::StrCat("moed ", catalogue_id, " job ", job_id);
}

bool OwnedByCatalogue(const std::string& owner, const std::string& catalogue_id) {
  return absl::StartsWith(owner, absl::StrCat("moed ", catalogue_id, " job "));
}

int64_t OwnerJobId(const std::string& owner) {
  const size_t at = owner.rfind(" job ");
  int64_t id = 0;
  if (at == std::string::npos || !absl::SimpleAtoi(owner.substr(at + 5), &id)) return 0;
  return id;
}

absl::StatusOr<std::string> ReadOwner(const std::filesystem::path& dir) {
  const std::filesystem::path path = dir / kOwnerFile;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    if (ec) return absl::InternalError(absl::StrCat(path.string(), ": ", ec.message()));
    return "";
  }
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) {
    return absl::FailedPreconditionError(absl::StrCat(path.string(), ": cannot be read"));
  }
  return std::string(absl::StripAsciiWhitespace(line));
}

absl::Status ClaimOutputDir(const std::filesystem::path& dir, const std::string& owner) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("checkpoint.output_dir ", dir.string(), ": cannot create: ", ec.message()));
  }
  return WriteFileDurably(dir / kOwnerFile, owner + "\n");
}

absl::Status CheckOutputDir(const std::filesystem::path& dir, const std::string& owner) {
  ASSIGN_OR_RETURN(const std::string found, ReadOwner(dir));
  if (found.empty()) return owner.empty() ? absl::OkStatus() : ClaimOutputDir(dir, owner);
  if (found == owner) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("checkpoint.output_dir ", dir.string(), " belongs to ", found, " (", kOwnerFile,
                   ")", owner.empty() ? "" : absl::StrCat(", not to ", owner),
                   ": give this run its own output_dir, or continue that job with moectl resume"));
}

}  // namespace moe::common
