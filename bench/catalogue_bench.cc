// moed's catalogue at scale: a catalogue of 10,000 ended jobs against one of 10, side by side in
// one run. For each: moed's start-up (spawn to "listening": lock, quick_check, recovery), the
// first page of `moectl list --limit 10` (the same 10 summaries' worth either way; median of 30
// calls), and `moed --check` (the full
// integrity check). Catalogues are built through Catalogue on tmpfs, then copied to --dir. Prints
// one JSON object per size and the ratios.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "client/job_client.h"
#include "nlohmann/json.hpp"
#include "server/catalogue.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A catalogue of `jobs` cancelled jobs at `dir`/moed.db (built on tmpfs, copied).
void MakeCatalogue(const fs::path& dir, int jobs) {
  const fs::path scratch = fs::path("/dev/shm") / absl::StrCat("moe_catalogue_bench_", getpid());
  fs::remove_all(scratch);
  fs::create_directories(scratch);
  {
    auto catalogue = moe::server::Catalogue::Open((scratch / "moed.db").string());
    if (!catalogue.ok()) throw std::runtime_error(std::string(catalogue.status().message()));
    moe::v1::JobSpec spec;
    spec.set_name("bench");
    spec.mutable_resources()->set_world_size(1);
    spec.mutable_data()->set_prompt_template(std::string(1000, 'x') + "{question}");
    for (int i = 1; i <= jobs; ++i) {
      spec.mutable_checkpoint()->set_output_dir(absl::StrCat("/runs/bench/", i));
      const auto id = (*catalogue)->CreateJob(spec, "", i);
      if (!id.ok() || !(*catalogue)->SetState(*id, moe::v1::JOB_STATE_CANCELLED, i).ok()) {
        throw std::runtime_error("cannot build the catalogue");
      }
    }
  }
  fs::remove_all(dir);
  fs::create_directories(dir / "jobs");
  fs::copy_file(scratch / "moed.db", dir / "moed.db");
  fs::remove_all(scratch);
}

struct Figures {
  double start_s = 0, list_first_page_ms = 0, check_s = 0;
};

Figures Measure(const std::string& moed, const fs::path& dir) {
  Figures f;
  const fs::path log = dir.string() + ".log";
  fs::remove(log);  // a previous run's "listening" line
  const std::string line =
      absl::StrCat("exec ", moed, " --data-dir ", dir.string(),
                   " --listen 127.0.0.1:0 --metrics-listen '' > ", log.string(), " 2>&1");
  const char* argv[] = {"/bin/sh", "-c", line.c_str(), nullptr};
  pid_t pid = 0;
  const auto started = Clock::now();
  posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ);
  const std::regex listening("moed listening on port (\\d+)");
  std::smatch match;
  std::string text;
  while (!std::regex_search(text = ReadFile(log), match, listening)) {
    std::this_thread::sleep_for(std::chrono::microseconds(500));
    if (Seconds(started) > 60) throw std::runtime_error("moed did not start: " + text);
  }
  f.start_s = Seconds(started);
  moe::client::JobClient client(absl::StrCat("127.0.0.1:", match[1].str()));
  moe::v1::ListJobsRequest request;
  request.set_page_size(10);
  std::vector<double> ms;
  for (int i = 0; i < 31; ++i) {
    const auto call = Clock::now();
    const auto page = client.List(request);
    if (!page.ok() || page->jobs_size() == 0) throw std::runtime_error("list failed");
    if (i > 0) ms.push_back(Seconds(call) * 1e3);  // the first one sets up the channel
  }
  std::sort(ms.begin(), ms.end());
  f.list_first_page_ms = ms[ms.size() / 2];
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
  const auto checked = Clock::now();
  if (std::system(
          absl::StrCat(moed, " --check --data-dir ", dir.string(), " > /dev/null").c_str()) != 0) {
    throw std::runtime_error("moed --check failed");
  }
  f.check_s = Seconds(checked);
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"moed's start-up, first list page and --check: 10,000 jobs vs 10"};
  std::string moed, dir = "/tmp/moe_catalogue_bench";
  int small = 10, large = 10000;
  app.add_option("--moed", moed, "The moed executable")->required();
  app.add_option("--dir", dir, "Where the data directories go (a real disk)")
      ->capture_default_str();
  app.add_option("--small", small)->capture_default_str();
  app.add_option("--large", large)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  nlohmann::json result;
  std::map<int, Figures> figures;
  for (int jobs : {small, large}) {
    const fs::path data = fs::path(dir) / absl::StrCat("data-", jobs);
    MakeCatalogue(data, jobs);
    figures[jobs] = Measure(moed, data);
    std::cout << nlohmann::json{{"jobs", jobs},
                                {"moed_start_s", figures[jobs].start_s},
                                {"list_first_page_ms", figures[jobs].list_first_page_ms},
                                {"moed_check_s", figures[jobs].check_s},
                                {"catalogue_bytes", fs::file_size(data / "moed.db")}}
                     .dump()
              << std::endl;
  }
  std::cout << nlohmann::json{{"start_ratio", figures[large].start_s / figures[small].start_s},
                              {"list_ratio", figures[large].list_first_page_ms /
                                                 figures[small].list_first_page_ms},
                              {"check_ratio", figures[large].check_s / figures[small].check_s}}
                   .dump()
            << std::endl;
  return 0;
}
