#include "client/moectl.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <limits>

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/format.h"
#include "client/job_client.h"
#include "client/prepare.h"
#include "common/spec_loader.h"

namespace moe::client {
namespace {

// A whole number from `low` to the largest `T`, checked on the text: an out-of-range value is
// refused, never clamped.
template <typename T>
CLI::Validator WholeNumber(T low) {
  return CLI::Validator(
      [low](std::string& text) -> std::string {
        T value = 0;
        if (absl::SimpleAtoi(text, &value) && value >= low) return "";
        return absl::StrCat("'", text, "' is not a whole number from ", low, " to ",
                            std::numeric_limits<T>::max());
      },
      "", "");
}

struct Flags {
  std::string server = "127.0.0.1:50051";
  std::string token_file, tls_ca;
  std::string output = "text";
  bool json() const { return output == "json"; }
};

int ExitFor(const absl::Status& status) {
  if (status.ok()) return 0;
  std::cerr << "moectl: " << status.message() << std::endl;
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
      return kExitUnreachable;
    case absl::StatusCode::kInvalidArgument:
      return kExitUsage;
    default:
      return kExitRefused;
  }
}

bool Final(moe::v1::JobState state) {
  return state == moe::v1::JOB_STATE_COMPLETED || state == moe::v1::JOB_STATE_FAILED ||
         state == moe::v1::JOB_STATE_CANCELLED;
}

// Follows a job to its end, printing a progress line per report (redrawn in place on a
// terminal) and each checkpoint. 0 when it COMPLETED.
int Watch(JobClient& client, int64_t id, const Flags& flags) {
  const bool tty = isatty(STDOUT_FILENO) && !flags.json();
  moe::v1::Job last;
  const auto started = std::chrono::steady_clock::now();
  int64_t first_step = -1;
  const absl::Status status = client.Watch(id, [&](const moe::v1::JobProgress& p) {
    if (flags.json()) {
      std::cout << ToJson(p) << std::endl;
    } else {
      if (p.job().state() != last.state()) {
        std::cout << (tty ? "\r\33[K" : "") << "job " << id << ": " << StateName(p.job().state())
                  << (p.job().failure().empty() ? "" : " (" + p.job().failure() + ")") << std::endl;
      }
      for (const moe::v1::Checkpoint& c : p.checkpoints()) {
        std::cout << (tty ? "\r\33[K" : "") << "checkpoint step " << c.step() << ": " << c.path()
                  << std::endl;
      }
      if (!p.steps().empty()) {
        const moe::v1::StepMetrics& s = p.steps(p.steps_size() - 1);
        if (first_step < 0) first_step = s.step() - 1;
        const double elapsed =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        const double rate = (s.step() - first_step) / std::max(elapsed, 1e-9);
        const double eta = (s.total_steps() - s.step()) / std::max(rate, 1e-9);
        std::cout << (tty ? "\r\33[K" : "") << ProgressLine(s, eta) << (tty ? "" : "\n")
                  << std::flush;
      }
    }
    last = p.job();
  });
  if (tty) std::cout << std::endl;
  if (!status.ok()) return ExitFor(status);
  if (!flags.json() && last.state() == moe::v1::JOB_STATE_COMPLETED) {
    std::cout << "model and checkpoints: " << last.spec().checkpoint().output_dir()
              << "\nlogs: moectl logs " << id << "  (files under " << last.job_dir() << ")"
              << std::endl;
  }
  return last.state() == moe::v1::JOB_STATE_COMPLETED ? 0 : kExitJobFailed;
}

template <typename T>
int Print(const absl::StatusOr<T>& result, const Flags& flags,
          const std::function<std::string(const T&)>& text) {
  if (!result.ok()) return ExitFor(result.status());
  std::cout << (flags.json() ? ToJson(*result) : text(*result)) << std::endl;
  return 0;
}

}  // namespace

int RunMoectl(int argc, char** argv) {
  CLI::App app{
      "moectl: submit and follow moetrain jobs on moed.\n"
      "Exit codes: 0 done; 1 moed refused the request; 2 bad usage or invalid spec; 3 the\n"
      "watched job ended FAILED or CANCELLED; 4 moed cannot be reached."};
  app.require_subcommand(1);
  Flags flags;
  if (const char* env = std::getenv("MOECTL_SERVER"); env != nullptr && *env != '\0') {
    flags.server = env;
  }
  app.add_option("--server", flags.server, "moed's address (or MOECTL_SERVER)")
      ->capture_default_str();
  app.add_option("--token-file", flags.token_file,
                 "File whose first line is moed's bearer token (or MOECTL_TOKEN_FILE)")
      ->envname("MOECTL_TOKEN_FILE");
  app.add_option("--tls-ca", flags.tls_ca,
                 "CA certificate (PEM) to check moed's TLS certificate against; turns TLS on "
                 "(or MOECTL_TLS_CA)")
      ->envname("MOECTL_TLS_CA");
  app.add_option("--output,-o", flags.output, "text or json (read commands)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  int code = 0;
  std::unique_ptr<JobClient> client;
  auto connect = [&]() -> JobClient& {
    if (!client) {
      const auto security = common::LoadClientSecurity(flags.token_file, flags.tls_ca);
      if (!security.ok()) {
        // A usage error (exit code 2), reported as CLI11 reports its own.
        throw CLI::RuntimeError(absl::StrCat("moectl: ", security.status().message()), kExitUsage);
      }
      client = std::make_unique<JobClient>(flags.server, *security);
    }
    return *client;
  };

  std::string spec_path;
  bool wait = false;
  auto* submit = app.add_subcommand("submit", "Validate a job spec here and queue it on moed");
  submit->add_option("spec", spec_path, "Job spec (YAML)")->required();
  submit->add_flag("--watch,-w", wait, "Then follow it to its end (exit code as watch)");
  submit->callback([&] {
    bool output_dir_defaulted = false;
    const auto spec = common::LoadJobSpec(spec_path, &output_dir_defaulted);
    if (!spec.ok()) {
      code = ExitFor(absl::InvalidArgumentError(spec.status().message()));
      return;
    }
    // Without an output_dir the job gets runs/<name>/<job id>: one spec submitted twice is two
    // jobs with two directories.
    const auto job = connect().Submit(*spec, output_dir_defaulted);
    if (!job.ok()) {
      code = ExitFor(job.status());
      return;
    }
    std::cout << (flags.json()
                      ? ToJson(*job)
                      : absl::StrCat("submitted job ", job->id(), " (", job->name(),
                                     "); checkpoints in ", job->spec().checkpoint().output_dir()))
              << std::endl;
    if (wait) code = Watch(connect(), job->id(), flags);
  });

  moe::v1::ListJobsRequest list_request;
  std::vector<std::string> list_states;
  bool list_all = false;
  int32_t limit = 50;
  auto* list = app.add_subcommand(
      "list", "Jobs, newest first, a page at a time (--limit); the spec of one: moectl status");
  list->add_option("--limit,-n", limit, "Jobs per page (1 to 1000)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  list->add_option("--page-token", *list_request.mutable_page_token(),
                   "Where the previous page ended (it prints the command for the next one)");
  list->add_option("--state", list_states,
                   "Only jobs in this state (queued, running, completed, failed, cancelled, "
                   "interrupted); repeatable")
      ->check(
          CLI::IsMember({"queued", "running", "completed", "failed", "cancelled", "interrupted"}));
  list->add_flag(
      "--oldest-first", [&](int64_t) { list_request.set_oldest_first(true); }, "Oldest first");
  list->add_flag("--all", list_all, "Every page, not only the first");
  list->callback([&] {
    list_request.set_page_size(limit);
    for (const std::string& state : list_states) {
      moe::v1::JobState parsed;
      moe::v1::JobState_Parse("JOB_STATE_" + absl::AsciiStrToUpper(state), &parsed);
      list_request.add_states(parsed);
    }
    std::string out = flags.json() ? "" : JobListHeader() + "\n";
    for (;;) {
      const auto page = connect().List(list_request);
      if (!page.ok()) {
        code = ExitFor(page.status());
        return;
      }
      for (const moe::v1::Job& job : page->jobs()) {
        absl::StrAppend(&out, flags.json() ? ToJson(job) : JobListLine(job), "\n");
      }
      std::cout << out << std::flush;
      out.clear();
      if (page->next_page_token().empty()) break;
      list_request.set_page_token(page->next_page_token());
      if (!list_all) {
        if (!flags.json()) {
          std::cout << "more: moectl list --page-token " << page->next_page_token() << " (or --all)"
                    << std::endl;
        }
        break;
      }
    }
  });

  bool delete_files = false;
  int64_t delete_id = 0;
  auto* remove = app.add_subcommand(
      "delete", "Forget an ended job (completed, failed or cancelled): its catalogue records");
  remove->add_option("job", delete_id, "Job id")->required()->check(WholeNumber<int64_t>(1));
  remove->add_flag("--files", delete_files,
                   "Also delete its job directory (spec, logs) and its checkpoint directory");
  remove->callback([&] {
    code = Print<moe::v1::DeleteJobResponse>(
        connect().Delete(delete_id, delete_files), flags, [&](const moe::v1::DeleteJobResponse& r) {
          std::string out = absl::StrCat("job ", delete_id, " deleted");
          for (const std::string& dir : r.removed()) absl::StrAppend(&out, "\nremoved ", dir);
          return out;
        });
  });

  int64_t id = 0;
  auto* status = app.add_subcommand("status", "A job, its attempts and its newest checkpoint");
  status->add_option("job", id, "Job id")->required()->check(WholeNumber<int64_t>(1));
  status->callback([&] {
    const auto job = connect().Get(id);
    const auto attempts = connect().Attempts(id);
    const auto checkpoints = connect().Checkpoints(id);
    for (const absl::Status& s : {job.status(), attempts.status(), checkpoints.status()}) {
      if (!s.ok()) {
        code = ExitFor(s);
        return;
      }
    }
    std::cout << (flags.json() ? ToJson(*job) : JobDetails(*job, *attempts, *checkpoints));
    std::cout << std::flush;
  });

  moe::v1::GetLogsRequest logs_request;
  auto* logs = app.add_subcommand("logs", "A worker's log (rank 0 of the newest attempt)");
  logs->add_option("job", id, "Job id")->required()->check(WholeNumber<int64_t>(1));
  logs->add_option(
          "--rank",
          [&](const CLI::results_t& r) {
            logs_request.set_rank(std::stoi(r[0]));
            return true;
          },
          "Worker rank")
      ->check(WholeNumber<int32_t>(0));
  logs->add_flag_function(
      "--follow,-f", [&](int64_t) { logs_request.set_follow(true); },
      "Keep printing until the job ends");
  logs->callback([&] {
    logs_request.set_id(id);
    code = ExitFor(connect().Logs(
        logs_request, [](const std::string& data) { std::cout << data << std::flush; }));
  });

  auto* watch = app.add_subcommand("watch", "Follow a job's progress until it ends");
  watch->add_option("job", id, "Job id")->required()->check(WholeNumber<int64_t>(1));
  watch->callback([&] { code = Watch(connect(), id, flags); });

  auto* cancel = app.add_subcommand("cancel", "Stop a job (its checkpoints stay)");
  cancel->add_option("job", id, "Job id")->required()->check(WholeNumber<int64_t>(1));
  cancel->callback([&] {
    code = Print<moe::v1::Job>(connect().Cancel(id), flags, [](const moe::v1::Job& j) {
      return absl::StrCat("job ", j.id(), ": cancel requested");
    });
  });

  int64_t from_step = 0;
  int32_t workers = 0;
  auto* resume = app.add_subcommand(
      "resume", "Queue a failed, cancelled or interrupted job again from a committed checkpoint");
  resume->add_option("job", id, "Job id")->required()->check(WholeNumber<int64_t>(1));
  resume->add_option("--from-step", from_step, "Checkpoint step (default: the newest)")
      ->check(WholeNumber<int64_t>(0));
  resume
      ->add_option("--workers", workers,
                   "Workers this time (the global batch is kept by gradient accumulation)")
      ->check(WholeNumber<int32_t>(0));
  resume->callback([&] {
    code = Print<moe::v1::Job>(
        connect().Resume(id, from_step, workers), flags,
        [](const moe::v1::Job& j) { return absl::StrCat("job ", j.id(), ": queued to resume"); });
  });

  auto* checkpoints = app.add_subcommand("checkpoints", "A job's committed checkpoints");
  checkpoints->add_option("job", id, "Job id")->required()->check(WholeNumber<int64_t>(1));
  checkpoints->callback([&] {
    code = Print<moe::v1::ListCheckpointsResponse>(
        connect().Checkpoints(id), flags, [](const moe::v1::ListCheckpointsResponse& r) {
          std::string out = "STEP    EPOCH  WORKERS  BYTES         PATH";
          for (const moe::v1::Checkpoint& c : r.checkpoints()) {
            absl::StrAppend(&out, "\n",
                            absl::StrFormat("%-7d %-6d %-8d %-13d %s", c.step(), c.epoch(),
                                            c.world_size(), c.bytes(), c.path()));
          }
          return out;
        });
  });

  std::string input, output;
  bool relabel = false;
  auto* prepare = app.add_subcommand(
      "prepare",
      "Label Natural-Questions-style JSONL records with the four experts by heuristics: how "
      "many/much and numbers -> numerical_reasoning; comparisons, 'between', X or Y -> "
      "multi_hop_reasoning; why/how/explain/cause -> commonsense_reasoning; else "
      "factual_lookup. Prints the label histogram. Runs here; moed is not needed.");
  prepare->add_option("--input", input, "JSONL with question and answer")
      ->required()
      ->check(CLI::ExistingFile);
  prepare->add_option("--output", output, "Where the labelled JSONL goes")->required();
  prepare->add_flag("--relabel", relabel, "Replace labels the records already have");
  prepare->callback([&] {
    const auto result = PrepareDataset(input, output, relabel);
    if (!result.ok()) {
      code = ExitFor(result.status());
      return;
    }
    std::cout << Histogram(*result) << "wrote " << output << std::endl;
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {  // thrown by a subcommand (CLI11 prints nothing)
    std::cerr << e.what() << std::endl;
    return e.get_exit_code();
  } catch (const CLI::ParseError& e) {
    const int exit = app.exit(e);
    return exit == 0 ? 0 : kExitUsage;
  }
  return code;
}

}  // namespace moe::client
