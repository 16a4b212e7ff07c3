// moe-worker as a user runs it: help, tokenize (same ids as the library), train-tokenizer,
// data on the demo spec, and clear errors with exit codes.
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/model_config.h"
#include "common/step_metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "worker/data/regex.h"
#include "worker/data/tokenizer.h"
#include "worker/model/hf_checkpoint.h"
#include "worker/model/safetensors.h"

namespace moe::worker {
namespace {

using ::testing::HasSubstr;

const std::filesystem::path kSource = MOE_SOURCE_DIR;
const std::string kTokenizer = (kSource / "assets/tiny-tokenizer/tokenizer.json").string();

// Whether `text` has a match of the PCRE2 `pattern`.
bool Contains(const std::string& text, const std::string& pattern) {
  std::vector<std::pair<size_t, size_t>> spans;
  (*Regex::Create(pattern))->FindAll(text, &spans);
  return !spans.empty();
}

struct Result {
  int exit_code;
  std::string output;  // stdout and stderr
};

Result RunWorker(const std::string& args, const std::string& stdin_text = "") {
  static int calls = 0;  // each call, and each test process, gets its own input file
  const std::filesystem::path input = std::filesystem::path(::testing::TempDir()) /
                                      absl::StrCat("moe_cli_stdin_", getpid(), "_", ++calls);
  FILE* f = fopen(input.c_str(), "wb");
  fwrite(stdin_text.data(), 1, stdin_text.size(), f);
  fclose(f);
  const std::string command =
      absl::StrCat(MOE_WORKER_BIN, " ", args, " < ", input.string(), " 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  std::string output;
  std::array<char, 4096> buffer;
  while (size_t n = fread(buffer.data(), 1, buffer.size(), pipe)) output.append(buffer.data(), n);
  const int status = pclose(pipe);
  std::filesystem::remove(input);
  return {WEXITSTATUS(status), output};
}

TEST(WorkerCli, HelpListsTheCommands) {
  const Result r = RunWorker("--help");
  EXPECT_EQ(r.exit_code, 0);
  for (const char* command : {"tokenize", "train-tokenizer", "data"}) {
    EXPECT_THAT(r.output, HasSubstr(command));
  }
  EXPECT_EQ(RunWorker("").exit_code, 106);  // CLI11: a subcommand is required
}

TEST(WorkerCli, VersionNamesLibTorchCudaAndNccl) {
  const Result r = RunWorker("--version");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("LibTorch 2.11"));
#ifdef MOE_WITH_CUDA
  EXPECT_THAT(r.output, HasSubstr("NCCL"));
  EXPECT_THAT(r.output, HasSubstr("compiled in"));
#endif
}

TEST(WorkerCli, TrainOnCudaWithoutAGpuIsAUserErrorNamingTheField) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "a GPU is visible here";
  const std::filesystem::path spec =
      std::filesystem::path(::testing::TempDir()) / absl::StrCat("moe_cuda_", getpid(), ".yaml");
  std::ifstream demo(kSource / "configs/jobs/tiny-cpu.yaml");
  std::string text((std::istreambuf_iterator<char>(demo)), {});
  text.replace(text.find("device: cpu"), 11, "device: cuda");
  // Relative paths in the demo spec are relative to its directory.
  for (const char* relative : {"../../assets/", "../../datasets/"}) {
    for (size_t at; (at = text.find(relative)) != std::string::npos;) {
      text.replace(at, 6, kSource.string() + "/");
    }
  }
  std::ofstream(spec) << text;
  const Result r = RunWorker("train --spec " + spec.string());
  EXPECT_EQ(r.exit_code, 2) << r.output;  // the user's error: moed does not retry it
  EXPECT_THAT(r.output, HasSubstr("resources.device: cuda, but no GPU is visible"));
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("samples,")));  // before any work
}

TEST(WorkerCli, TokenizePrintsTheLibrarysIdsAndDecodesThemBack) {
  auto tok = std::move(Tokenizer::FromFile(kTokenizer)).value();
  const std::vector<std::string> lines = {"who wrote the hunchback of notre-dame",
                                          "  Zürich\t1889 <|endoftext|>\r", ""};
  const Result r =
      RunWorker("tokenize --tokenizer " + kTokenizer, absl::StrJoin(lines, "\n") + "\n");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::string expected;
  for (const std::string& line : lines) {
    absl::StrAppend(&expected, "[", absl::StrJoin(tok->Encode(line), ","), "]\n");
  }
  EXPECT_EQ(r.output, expected);
  const Result back = RunWorker("tokenize --decode --tokenizer " + kTokenizer, r.output);
  ASSERT_EQ(back.exit_code, 0) << back.output;
  EXPECT_EQ(back.output, absl::StrJoin(lines, "\n") + "\n");
}

TEST(WorkerCli, TokenizeRejectsBadInputClearly) {
  EXPECT_THAT(RunWorker("tokenize --tokenizer /nonexistent.json").output,
              HasSubstr("File does not exist"));
  const Result r = RunWorker("tokenize --decode --tokenizer " + kTokenizer, "[1,2]\nnot ids\n");
  EXPECT_EQ(r.exit_code, 2);  // a user error: moed does not retry it
  EXPECT_THAT(r.output, HasSubstr("stdin:2: expected a JSON array of token ids"));
}

TEST(WorkerCli, TrainTokenizerWritesALoadableTokenizer) {
  const std::string out =
      (std::filesystem::path(::testing::TempDir()) / absl::StrCat("moe_tok_", getpid(), ".json"))
          .string();
  const Result r =
      RunWorker(absl::StrCat("train-tokenizer --format qa-jsonl --vocab-size 600 --input ",
                             (kSource / "datasets/nq_sample.jsonl").string(), " --out ", out));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("wrote " + out + ": 600 tokens"));
  auto tok = Tokenizer::FromFile(out);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ(*(*tok)->Decode((*tok)->Encode("Question: why is the sky blue")),
            "Question: why is the sky blue");
}

TEST(WorkerCli, DataReportsPackingEfficiencyOfTheDemoJob) {
  const Result r = RunWorker("data --spec " + (kSource / "configs/jobs/tiny-cpu.yaml").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, R"(\d+ samples from \S+nq_sample.jsonl)")) << r.output;
  EXPECT_THAT(r.output, HasSubstr("experts: factual_lookup "));
  EXPECT_THAT(r.output, HasSubstr("packed (this job):"));
  EXPECT_THAT(r.output, HasSubstr("padded:"));
}

TEST(WorkerCli, DataNamesSpecProblems) {
  const std::filesystem::path spec =
      std::filesystem::path(::testing::TempDir()) / absl::StrCat("moe_bad_", getpid(), ".yaml");
  FILE* f = fopen(spec.c_str(), "w");
  fputs("name: x\ntraining:\n  micro_batch: 4\n", f);
  fclose(f);
  const Result r = RunWorker("data --spec " + spec.string());
  EXPECT_EQ(r.exit_code, 2);  // a user error: moed does not retry it
  EXPECT_THAT(r.output, HasSubstr(".yaml:3: training.micro_batch: unknown field"));
}

TEST(WorkerCli, InitInspectForwardAndGenerateOnTheDemoModel) {
  const std::string dir =
      (std::filesystem::path(::testing::TempDir()) / absl::StrCat("moe_model_", getpid())).string();
  const Result init = RunWorker(absl::StrCat(
      "init --spec ", (kSource / "configs/jobs/tiny-cpu.yaml").string(), " --out ", dir));
  ASSERT_EQ(init.exit_code, 0) << init.output;

  const Result inspect = RunWorker("inspect --checkpoint " + dir);
  ASSERT_EQ(inspect.exit_code, 0) << inspect.output;
  moe::v1::MptConfig config;
  moe::v1::MoeSpec moe;
  ASSERT_TRUE(common::ReadHfConfig(dir, &config, &moe).ok());
  const common::ParameterCount count = common::CountParameters(config, moe);
  EXPECT_THAT(inspect.output, HasSubstr(absl::StrCat("parameters: ", count.total, " total, ",
                                                     count.active_per_token, " active per token")));
  EXPECT_THAT(inspect.output, HasSubstr("experts: 4 (factual_lookup, numerical_reasoning"));
  EXPECT_THAT(inspect.output, HasSubstr("MoE layers: 0, 1, 2, 3 of 4"));

  // forward's logits equal the independent Python implementation's on the same files.
  const std::string ours = dir + "/ours.safetensors";
  const Result forward =
      RunWorker(absl::StrCat("forward --checkpoint ", dir, " --ids 5,17,42,7 --out ", ours));
  ASSERT_EQ(forward.exit_code, 0) << forward.output;
  if (std::system(MOE_PYTHON " -c 'import torch' 2>/dev/null") == 0) {
    std::ofstream(dir + "/in.json") << R"({"input_ids": [[5, 17, 42, 7]]})";
    const std::string ref = dir + "/ref.safetensors";
    ASSERT_EQ(std::system(absl::StrCat(MOE_PYTHON " ",
                                       (kSource / "tests/worker/model/mpt_reference.py").string(),
                                       " forward ", dir, " ", dir, "/in.json ", ref)
                              .c_str()),
              0);
    const torch::Tensor a = *(*SafetensorsFile::Open(ours))->Load("logits");
    const torch::Tensor b = *(*SafetensorsFile::Open(ref))->Load("logits");
    ASSERT_EQ(a.sizes(), b.sizes().slice(1));
    EXPECT_LT((a - b[0]).abs().max().item<double>(), 2e-4);
  }
  EXPECT_THAT(
      RunWorker(absl::StrCat("forward --checkpoint ", dir, " --ids 5,x --out ", ours)).output,
      HasSubstr("--ids: 'x' is not a token id"));
  EXPECT_THAT(
      RunWorker(absl::StrCat("forward --checkpoint ", dir, " --ids 999999 --out ", ours)).output,
      HasSubstr("outside the vocabulary"));

  const Result generate = RunWorker(
      absl::StrCat("generate --checkpoint ", dir, " --prompt 'Question: why' --max-new-tokens 3"));
  ASSERT_EQ(generate.exit_code, 0) << generate.output;
  EXPECT_THAT(generate.output, HasSubstr("Question: why"));
  std::filesystem::remove_all(dir);
}

TEST(WorkerCli, TrainLogsBothCountersAndExpertLoadThenEvalPrintsJson) {
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / absl::StrCat("moe_train_", getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::filesystem::path spec = dir / "job.yaml";
  std::ofstream(spec)
      << "name: t\n"
      << "model:\n  config: {d_model: 32, n_heads: 4, n_layers: 1, max_seq_len: 128}\n"
      << "  tokenizer: " << kTokenizer << "\n"
      << "  moe: {experts: [factual_lookup, numerical_reasoning, multi_hop_reasoning, "
         "commonsense_reasoning]}\n"
      << "data: {train_file: " << (kSource / "datasets/nq_sample.jsonl").string()
      << ", max_seq_len: 128, max_target_len: 32, max_samples: 120}\n"
      << "training: {max_steps: 3, micro_batch_size: 2, grad_accumulation: 2}\n"
      << "checkpoint: {output_dir: " << (dir / "out").string() << "}\n"
      << "logging: {logging_steps: 1}\n";
  // A known peak, so that every metric of the table is measured (the FLOPs utilisation needs it).
  setenv("MOE_PEAK_FLOPS", "1e12", 1);
  const Result train = RunWorker(
      absl::StrCat("train --spec ", spec.string(), " --metrics-file ", (dir / "m.jsonl").string()));
  unsetenv("MOE_PEAK_FLOPS");
  ASSERT_EQ(train.exit_code, 0) << train.output;
  EXPECT_TRUE(Contains(train.output,
                       R"(step 3/3 \| batch 6/\d+ \| loss \d+\.\d{4} \| lr \S+ \| \d+k? tok/s \| )"
                       R"(experts \d+/\d+/\d+/\d+% \| grad \S+)"))
      << train.output;
  EXPECT_THAT(train.output, HasSubstr("checkpoint step 3 committed"));

  // TensorBoard scalars with the original script's tags, read back by the independent reader
  // (which also checks every record's CRCs).
  std::vector<std::filesystem::path> event_files;
  for (const auto& entry : std::filesystem::directory_iterator(dir / "out/tensorboard")) {
    event_files.push_back(entry.path());
  }
  ASSERT_EQ(event_files.size(), 1u);
  const std::string events_json = (dir / "events.json").string();
  ASSERT_EQ(
      std::system(absl::StrCat(MOE_PYTHON " ",
                               (kSource / "tests/worker/report/tfrecord_reference.py").string(),
                               " read ", event_files[0].string(), " > ", events_json)
                      .c_str()),
      0);
  std::ifstream events_in(events_json);
  const nlohmann::json events = nlohmann::json::parse(events_in);
  std::map<std::string, std::vector<int64_t>> steps_by_tag;
  for (const auto& e : events) {
    if (e.contains("tag")) steps_by_tag[e["tag"]].push_back(e["step"]);
  }
  std::vector<std::string> tags = {"train/epoch", "train/global_step",
                                   "moe/layer_0/expert_3_share"};
  for (const moe::common::StepMetricInfo& info : moe::common::kStepMetrics) {
    tags.push_back(info.scope == moe::common::MetricScope::kRun
                       ? std::string(info.tensorboard)
                       : absl::StrCat("moe/layer_0/", info.tensorboard));
  }
  EXPECT_THAT(tags, testing::IsSupersetOf({"train/loss", "train/learning_rate", "train/grad_norm",
                                           "moe/layer_0/router_entropy"}))
      << "the original script's tags";
  for (const std::string& tag : tags) {
    EXPECT_EQ(steps_by_tag[tag], (std::vector<int64_t>{1, 2, 3})) << tag;
  }
  // The JSON lines hold every metric of the table by its key, the layers' in each layer.
  std::ifstream lines(dir / "m.jsonl");
  int step_lines = 0;
  for (std::string line; std::getline(lines, line);) {
    const nlohmann::json event = nlohmann::json::parse(line);
    if (event["event"] != "step") continue;
    ++step_lines;
    ASSERT_EQ(event["layers"].size(), 1u);
    for (const moe::common::StepMetricInfo& info : moe::common::kStepMetrics) {
      const nlohmann::json& holder =
          info.scope == moe::common::MetricScope::kRun ? event : event["layers"][0];
      EXPECT_TRUE(holder.contains(info.key) && holder[std::string(info.key)].is_number())
          << info.key << " in " << line;
    }
  }
  EXPECT_EQ(step_lines, 3);
  EXPECT_EQ(steps_by_tag["train/epoch_loss"], (std::vector<int64_t>{3}));  // the run's end
  EXPECT_EQ(steps_by_tag["checkpoint/save_seconds"], (std::vector<int64_t>{3}));

  const Result eval = RunWorker(absl::StrCat(
      "eval --checkpoint ", (dir / "out/checkpoint-step-3").string(), " --data ",
      (kSource / "datasets/nq_sample.jsonl").string(), " --max-samples 5 --max-new-tokens 4"));
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  const nlohmann::json result = nlohmann::json::parse(eval.output);
  EXPECT_EQ(result["samples"], 5);
  EXPECT_EQ(result["expert_share"].size(), 4u);
  for (const char* key : {"loss", "tokens", "exact_match"})
    EXPECT_TRUE(result.contains(key)) << key;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace moe::worker
