// Preemption notices against a stand-in metadata service on loopback that checks what the
// real ones check (IMDSv2 token and TTL headers, the Metadata-Flavor header), and files.
#include "server/preemption_notice.h"

#include <chrono>
#include <filesystem>
#include <fstream>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/fake_metadata_server.h"

namespace moe::server {
namespace {

using testing::FakeMetadataServer;
using ::testing::HasSubstr;
using ::testing::Not;

NoticePoller Poller(const std::string& kind, const std::string& url) {
  auto source = ParseNoticeSource(kind, url);
  EXPECT_TRUE(source.ok()) << source.status();
  return NoticePoller(*source);
}

TEST(NoticeSource, ParsesEachFormAndNamesTheAcceptedOnes) {
  EXPECT_EQ(ParseNoticeSource("aws")->target, "http://169.254.169.254");
  EXPECT_EQ(ParseNoticeSource("gcp")->target, "http://metadata.google.internal");
  EXPECT_EQ(ParseNoticeSource("aws", "http://127.0.0.1:8080/")->target, "http://127.0.0.1:8080");
  const auto file = ParseNoticeSource("file:/run/moetrain/preempt");
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->kind, NoticeSource::Kind::kFile);
  EXPECT_EQ(file->target, "/run/moetrain/preempt");
  for (const char* bad : {"azure", "file:", "AWS", ""}) {
    const auto parsed = ParseNoticeSource(bad);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("aws, gcp or file:PATH"));
  }
}

TEST(AwsNotice, UsesAnImdsV2TokenAndSeesTheInstanceAction) {
  FakeMetadataServer metadata;
  NoticePoller poller = Poller("aws", metadata.url());
  for (int i = 0; i < 3; ++i) {
    const auto none = poller.Poll();
    ASSERT_TRUE(none.ok()) << none.status();
    EXPECT_FALSE(none->has_value());
  }
  metadata.SetNotice();
  const auto notice = poller.Poll();
  ASSERT_TRUE(notice.ok()) << notice.status();
  ASSERT_TRUE(notice->has_value());
  EXPECT_EQ(**notice, "aws: spot instance-action terminate at 2026-12-01T12:00:00Z");
  // One token for all four polls (it is a session token), every poll authorised.
  const std::string log = metadata.Log();
  auto count = [&](const std::string& what) {
    size_t n = 0;
    for (size_t at = log.find(what); at != std::string::npos; at = log.find(what, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("PUT /latest/api/token 200"), 1u) << log;
  EXPECT_EQ(count("GET /latest/meta-data/spot/instance-action"), 4u) << log;
  EXPECT_THAT(log, Not(HasSubstr(" 401")));
  EXPECT_THAT(log, HasSubstr("GET /latest/meta-data/spot/instance-action 404"));
}

TEST(AwsNotice, RenewsAnExpiredToken) {
  FakeMetadataServer metadata;
  NoticePoller poller = Poller("aws", metadata.url());
  ASSERT_TRUE(poller.Poll().ok());
  metadata.ExpireTokens();
  metadata.SetNotice();
  const auto notice = poller.Poll();
  ASSERT_TRUE(notice.ok()) << notice.status();
  EXPECT_TRUE(notice->has_value());
  const std::string log = metadata.Log();
  EXPECT_THAT(log, HasSubstr("GET /latest/meta-data/spot/instance-action 401\n"
                             "PUT /latest/api/token 200\n"
                             "GET /latest/meta-data/spot/instance-action 200"));
}

TEST(GcpNotice, SendsTheMetadataFlavorHeaderAndSeesPreempted) {
  FakeMetadataServer metadata;
  NoticePoller poller = Poller("gcp", metadata.url());
  const auto none = poller.Poll();
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());
  metadata.SetNotice();
  const auto notice = poller.Poll();
  ASSERT_TRUE(notice.ok()) << notice.status();
  EXPECT_EQ(notice->value_or(""), "gcp: instance preempted");
  EXPECT_THAT(metadata.Log(), Not(HasSubstr(" 403")));
  // The endpoint refuses a request without the header, and the poller calls that an error,
  // not a notice.
  const auto bare = HttpRequest("GET", metadata.url() + "/computeMetadata/v1/instance/preempted");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->code, 403);
}

TEST(FileNotice, AppearsWhenTheFileDoes) {
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / "moe_notice_test" / "preempt";
  std::filesystem::remove_all(path.parent_path());
  std::filesystem::create_directories(path.parent_path());
  NoticePoller poller = Poller("file:" + path.string(), "");
  EXPECT_FALSE(poller.Poll()->has_value());
  std::ofstream(path) << "node drain\n";
  EXPECT_EQ(poller.Poll()->value_or(""), "file " + path.string() + ": node drain");
}

TEST(Notice, AnUnreachableEndpointIsAnErrorNotANotice) {
  // A port nothing listens on (the stand-in's, after it exited).
  std::string url;
  {
    FakeMetadataServer metadata;
    url = metadata.url();
  }
  for (const char* kind : {"aws", "gcp"}) {
    NoticePoller poller = Poller(kind, url);
    const auto polled = poller.Poll();
    EXPECT_EQ(polled.status().code(), absl::StatusCode::kUnavailable) << kind;
    EXPECT_THAT(std::string(polled.status().message()), HasSubstr(url));
  }
}

TEST(PreemptionWatcher, CallsBackOnceWhenAnySourceGivesNotice) {
  FakeMetadataServer metadata;
  const std::filesystem::path never = std::filesystem::temp_directory_path() / "moe_never_there";
  std::filesystem::remove(never);
  std::vector<NoticeSource> sources = {*ParseNoticeSource("file:" + never.string()),
                                       *ParseNoticeSource("gcp", metadata.url())};
  absl::Notification noticed;
  std::vector<std::string> notices;
  PreemptionWatcher watcher(sources, 0.05, [&](const std::string& notice) {
    notices.push_back(notice);
    noticed.Notify();
  });
  EXPECT_FALSE(noticed.WaitForNotificationWithTimeout(absl::Milliseconds(300)));
  metadata.SetNotice();
  ASSERT_TRUE(noticed.WaitForNotificationWithTimeout(absl::Seconds(10)));
  absl::SleepFor(absl::Milliseconds(200));  // it would have polled again by now
  EXPECT_EQ(notices, std::vector<std::string>{"gcp: instance preempted"});
}

}  // namespace
}  // namespace moe::server
