// Observability end to end: a real Prometheus server (Debian's `prometheus`, on loopback with a
// temporary config) scrapes a real moed while a tiny CPU job trains; its HTTP API must show the
// loss, a step that increases, and expert shares summing to 1 per layer. The exposition text
// passes `promtool check metrics` (Prometheus' own naming lint) and uses only our labels; every
// query of the Grafana dashboard names a metric moed exports.
#include <curl/curl.h>

#include <regex>
#include <set>

#include "absl/strings/match.h"
#include "common/step_metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/launch_ranks.h"
#include "tests/testing/moed_process.h"

namespace moe::server {
namespace {

namespace fs = std::filesystem;
using testing::Job;
using testing::Moed;
using testing::ReadFile;
using testing::Submit;
using Json = nlohmann::json;

// GET `url`; the body, or "" on failure.
std::string HttpGet(const std::string& url) {
  CURL* curl = curl_easy_init();
  std::string body;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  curl_easy_setopt(
      curl, CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t n, void* out) {
        static_cast<std::string*>(out)->append(data, size * n);
        return size * n;
      });
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  const CURLcode rc = curl_easy_perform(curl);
  curl_easy_cleanup(curl);
  return rc == CURLE_OK ? body : "";
}

std::string Escape(const std::string& text) {
  CURL* curl = curl_easy_init();
  char* escaped = curl_easy_escape(curl, text.c_str(), static_cast<int>(text.size()));
  std::string out = escaped;
  curl_free(escaped);
  curl_easy_cleanup(curl);
  return out;
}

// Everything `moed` exports after a job ran: the exposition text.
std::string Exposition(const Moed& moed) {
  return HttpGet(absl::StrCat("http://127.0.0.1:", moed.metrics_port(), "/metrics"));
}

// The metric names in exposition text (histogram series folded to their family).
std::set<std::string> MetricNames(const std::string& text) {
  std::set<std::string> names;
  const std::regex type_line("^# TYPE (\\S+) ");
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    std::smatch match;
    if (std::regex_search(line, match, type_line)) names.insert(match[1]);
  }
  return names;
}

class Observability : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};

TEST_F(Observability, PrometheusScrapesLossStepsAndExpertShares) {
  if (!fs::exists("/usr/bin/prometheus")) GTEST_SKIP() << "Debian package prometheus missing";
  const fs::path root = worker::testing::FreshDir("prometheus");
  Moed moed(root / "data", "--nvml-library /nonexistent/libnvidia-ml.so.1");
  const int port = worker::testing::FreePort();
  std::ofstream(root / "prometheus.yml")
      << "global:\n  scrape_interval: 250ms\n  scrape_timeout: 200ms\n"
      << "scrape_configs:\n  - job_name: moed\n    honor_labels: true\n"
      << "    static_configs:\n      - targets: ['127.0.0.1:" << moed.metrics_port() << "']\n";
  const std::string prometheus_log = (root / "prometheus.log").string();
  const std::string line =
      absl::StrCat("exec /usr/bin/prometheus --config.file=", (root / "prometheus.yml").string(),
                   " --storage.tsdb.path=", (root / "tsdb").string(),
                   " --web.listen-address=127.0.0.1:", port, " > ", prometheus_log, " 2>&1");
  const char* argv[] = {"/bin/sh", "-c", line.c_str(), nullptr};
  pid_t prometheus = -1;
  ASSERT_EQ(
      posix_spawn(&prometheus, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ), 0);
  // Stopped however the test ends.
  const std::unique_ptr<pid_t, void (*)(pid_t*)> stop(&prometheus, [](pid_t* pid) {
    kill(*pid, SIGTERM);
    waitpid(*pid, nullptr, 0);
  });
  const std::string api = absl::StrCat("http://127.0.0.1:", port);
  // Ready, and scraping moed (Prometheus applies new targets every 5 s).
  for (int i = 0;
       i < 300 && HttpGet(api + "/api/v1/targets").find("\"health\":\"up\"") == std::string::npos;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }

  moe::v1::JobSpec spec = Job(root / "out", 120);
  const int64_t id = Submit(moed, spec);
  moed.WaitForState(id, moe::v1::JOB_STATE_COMPLETED);
  const auto query = [&](const std::string& promql) {
    const Json reply = Json::parse(
        HttpGet(absl::StrCat(api, "/api/v1/query?query=", Escape(promql))), nullptr, false);
    EXPECT_EQ(reply.value("status", ""), "success") << promql << "\n" << ReadFile(prometheus_log);
    return reply.is_object() ? reply["data"]["result"] : Json::array();
  };
  const std::string job = absl::StrCat("{job=\"", id, "\"}");
  // moed refreshes its job counts every second; wait for a scrape that saw the completion.
  for (int i = 0; i < 100; ++i) {
    const Json completed = query("moe_jobs{state=\"completed\"}");
    if (!completed.empty() && completed[0]["value"][1] == "1") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }

  // The loss, and a step that increased while Prometheus watched.
  const Json loss = query("moe_train_loss" + job);
  ASSERT_EQ(loss.size(), 1u) << HttpGet(api + "/api/v1/targets");
  EXPECT_GT(std::stod(loss[0]["value"][1].get<std::string>()), 0);
  const Json steps = query(absl::StrCat("moe_train_global_step", job, "[1m]"));
  ASSERT_EQ(steps.size(), 1u);
  double previous = -1, first = -1;
  for (const Json& sample : steps[0]["values"]) {
    const double step = std::stod(sample[1].get<std::string>());
    EXPECT_GE(step, previous);
    if (first < 0) first = step;
    previous = step;
  }
  EXPECT_EQ(previous, 120);
  EXPECT_LT(first, previous) << "Prometheus saw no progress";

  // Each MoE layer's expert shares sum to 1.
  const Json sums = query(absl::StrCat("sum by (layer) (moe_expert_token_share", job, ")"));
  ASSERT_EQ(sums.size(), 2u);  // both layers of the small model are MoE
  for (const Json& layer : sums) {
    EXPECT_NEAR(std::stod(layer["value"][1].get<std::string>()), 1.0, 1e-9);
  }
  EXPECT_EQ(query("moe_jobs{state=\"completed\"}")[0]["value"][1], "1");
  EXPECT_FALSE(query("moe_checkpoint_save_duration_seconds_count" + job).empty());
  EXPECT_TRUE(query("moe_gpu_utilization_ratio").empty());  // no NVML: no GPU series, no error
}

TEST_F(Observability, ExpositionFollowsTheConventionsAndTheDashboardQueriesExist) {
  // With the stand-in NVML (two GPUs), so the dashboard's GPU panels have series too.
  const fs::path root = worker::testing::FreshDir("exposition");
  // A declared device peak of 1 GFLOP/s, so model FLOPs utilisation is exported too.
  Moed moed(root / "data", absl::StrCat("--nvml-library ", FAKE_NVML), "MOE_PEAK_FLOPS=1e9");
  const int64_t id = Submit(moed, Job(root / "out", 10));
  moed.WaitForState(id, moe::v1::JOB_STATE_COMPLETED);
  std::string text = Exposition(moed);
  for (int i = 0; i < 50 && text.find("moe_gpu_power_watts{gpu=\"1\"} 301") == std::string::npos;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    text = Exposition(moed);
  }
  ASSERT_FALSE(text.empty());
  EXPECT_NE(text.find("moe_gpu_utilization_ratio{gpu=\"1\"} 0.57"), std::string::npos) << text;
  // MFU is the model FLOP rate over the peak of both workers.
  const auto value = [&](const std::string& series) {
    const size_t at = text.find(series + " ");
    return at == std::string::npos ? -1.0 : std::stod(text.substr(at + series.size() + 1));
  };
  const std::string job = absl::StrCat("{job=\"", id, "\"}");
  const double flops = value("moe_train_model_flops_per_second" + job);
  EXPECT_GT(flops, 0);
  EXPECT_NEAR(value("moe_train_model_flops_utilization_ratio" + job), flops / 2e9, 1e-9 * flops);

  // Every training metric of the table has its series, a layer's for each MoE layer.
  for (const common::StepMetricInfo& info : common::kStepMetrics) {
    std::string series(info.prometheus);
    if (info.kind == common::MetricKind::kHistogram) series += "_count";
    if (info.scope == common::MetricScope::kRun) {
      EXPECT_GE(value(series + job), 0) << series;
    } else {
      for (int layer : {0, 1}) {
        EXPECT_GE(value(absl::StrCat(series, "{job=\"", id, "\",layer=\"", layer, "\"}")), 0)
            << series << " layer " << layer;
      }
    }
  }

  // Prometheus' own lint, when installed: names, units, _total counters.
  if (fs::exists("/usr/bin/promtool")) {
    std::ofstream(root / "metrics.txt") << text;
    const std::string lint = (root / "lint.txt").string();
    const int status =
        std::system(absl::StrCat("/usr/bin/promtool check metrics < ",
                                 (root / "metrics.txt").string(), " > ", lint, " 2>&1")
                        .c_str());
    EXPECT_EQ(WEXITSTATUS(status), 0) << ReadFile(lint);
  }
  // Only moe_ names, and only the labels we promise (bounded: nothing per step).
  const std::set<std::string> allowed = {"job",   "rank",   "layer", "expert", "state",
                                         "cause", "method", "gpu",   "le",     "quantile"};
  const std::regex sample("^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{([^}]*)\\})? (\\S+)$");
  const std::regex label("([a-zA-Z_][a-zA-Z0-9_]*)=\"");
  std::istringstream lines(text);
  int samples = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::smatch match;
    ASSERT_TRUE(std::regex_match(line, match, sample)) << line;
    // Ours, or prometheus-cpp's own exposer_* series.
    EXPECT_TRUE(absl::StartsWith(match[1].str(), "moe_") ||
                absl::StartsWith(match[1].str(), "exposer_"))
        << line;
    const std::string labels = match[3];
    for (auto it = std::sregex_iterator(labels.begin(), labels.end(), label);
         it != std::sregex_iterator(); ++it) {
      EXPECT_TRUE(allowed.count((*it)[1])) << "label " << (*it)[1] << " in " << line;
    }
    ++samples;
  }
  EXPECT_GT(samples, 50);

  // Every metric a dashboard query names is exported.
  const std::set<std::string> exported = MetricNames(text);
  const Json dashboard =
      Json::parse(ReadFile(worker::testing::kSourceDir / "deploy/grafana/moetrain.json"));
  const std::regex metric("\\bmoe_[a-z0-9_]+");
  int queries = 0;
  std::function<void(const Json&)> walk = [&](const Json& node) {
    if (node.is_object()) {
      for (const auto& [key, value] : node.items()) {
        if ((key == "expr" || key == "query") && value.is_string()) {
          ++queries;
          const std::string expr = value;
          for (auto it = std::sregex_iterator(expr.begin(), expr.end(), metric);
               it != std::sregex_iterator(); ++it) {
            std::string name = (*it)[0];
            for (const char* suffix : {"_bucket", "_sum", "_count"}) {
              if (!exported.count(name) && absl::EndsWith(name, suffix)) {
                name = name.substr(0, name.size() - std::strlen(suffix));
              }
            }
            EXPECT_TRUE(exported.count(name)) << name << " in " << expr;
          }
        } else {
          walk(value);
        }
      }
    } else if (node.is_array()) {
      for (const Json& item : node) walk(item);
    }
  };
  walk(dashboard);
  EXPECT_GT(queries, 10);
}

}  // namespace
}  // namespace moe::server
