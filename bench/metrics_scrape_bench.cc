// How long a scrape of moed's /metrics takes at scale: 8 jobs (as many series as 8 ranks would
// give) x 32 MoE layers x 8 experts, fetched over HTTP from prometheus-cpp's exposer, side by
// side with serialising the same registry in-process (the floor under the HTTP path).
#include <curl/curl.h>
#include <prometheus/exposer.h>
#include <prometheus/text_serializer.h>

#include <chrono>
#include <iostream>

#include "CLI/CLI.hpp"
#include "common/step_metrics.h"
#include "nlohmann/json.hpp"
#include "server/metrics.h"

int main(int argc, char** argv) {
  CLI::App app{"Scrape duration of moed's /metrics with many MoE series"};
  int jobs = 8, layers = 32, experts = 8, scrapes = 50;
  app.add_option("--jobs", jobs);
  app.add_option("--layers", layers);
  app.add_option("--experts", experts);
  app.add_option("--scrapes", scrapes);
  CLI11_PARSE(app, argc, argv);

  moe::server::CoordinatorMetrics metrics;
  for (int job = 1; job <= jobs; ++job) {
    moe::v1::StepMetrics step;
    step.set_step(100);
    // Every metric of the table, as a worker reports them.
    moe::common::StepValues values;
    values.fill(0.5);
    moe::common::PutByKey(values, moe::common::MetricScope::kRun, step.mutable_values());
    for (int l = 0; l < layers; ++l) {
      moe::v1::LayerMetrics* layer = step.add_layers();
      layer->set_layer(l);
      for (int e = 0; e < experts; ++e) layer->add_expert_share(1.0 / experts);
      moe::common::PutByKey(values, moe::common::MetricScope::kLayer, layer->mutable_values());
    }
    metrics.OnSteps(job, {step});
    for (int rank = 0; rank < 8; ++rank) metrics.SetHeartbeatAge(job, rank, 1.0);
  }
  prometheus::Exposer exposer("127.0.0.1:0");
  exposer.RegisterCollectable(metrics.registry());
  const std::string url =
      "http://127.0.0.1:" + std::to_string(exposer.GetListeningPorts().at(0)) + "/metrics";

  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURL* curl = curl_easy_init();
  std::string body;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(
      curl, CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t n, void* out) {
        static_cast<std::string*>(out)->append(data, size * n);
        return size * n;
      });
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);  // a new connection per scrape
  using Clock = std::chrono::steady_clock;
  const auto http_start = Clock::now();
  for (int i = 0; i < scrapes; ++i) {
    body.clear();
    if (const CURLcode rc = curl_easy_perform(curl); rc != CURLE_OK) {
      std::cerr << url << ": " << curl_easy_strerror(rc) << std::endl;
      return 1;
    }
  }
  const double http_ms =
      std::chrono::duration<double, std::milli>(Clock::now() - http_start).count() / scrapes;
  curl_easy_cleanup(curl);

  const prometheus::TextSerializer serializer;
  size_t bytes = 0;
  const auto direct_start = Clock::now();
  for (int i = 0; i < scrapes; ++i)
    bytes = serializer.Serialize(metrics.registry()->Collect()).size();
  const double direct_ms =
      std::chrono::duration<double, std::milli>(Clock::now() - direct_start).count() / scrapes;
  size_t series = 0;
  for (char c : body) series += c == '\n';
  std::cout << nlohmann::json{{"jobs", jobs},
                              {"layers", layers},
                              {"experts", experts},
                              {"exposition_lines", series},
                              {"exposition_bytes", body.size()},
                              {"http_scrape_ms", http_ms},
                              {"serialize_only_ms", direct_ms},
                              {"serialized_bytes", bytes},
                              {"http_over_serialize", http_ms / direct_ms}}
                   .dump()
            << std::endl;
  return 0;
}
