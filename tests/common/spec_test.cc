// Job spec loading: YAML -> JobSpec -> YAML round trip, errors with paths, defaults,
// validation of every rule, and the shipped configs.
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/proto_yaml.h"
#include "common/spec_defaults.h"
#include "common/spec_loader.h"
#include "common/spec_validator.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace moe::common {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

const std::filesystem::path kSource = MOE_SOURCE_DIR;
const std::filesystem::path kJobs = kSource / "configs/jobs";

// A minimal valid spec; paths are relative to configs/jobs/.
constexpr char kMinimal[] = R"(
name: t
model:
  config: {d_model: 64, n_heads: 4, n_layers: 2}
  tokenizer: ../../assets/tiny-tokenizer/tokenizer.json
  moe: {experts: [a, b, c, d]}
data:
  train_file: ../../datasets/nq_sample.jsonl
)";

absl::StatusOr<v1::JobSpec> Parse(const std::string& yaml) {
  return ParseJobSpec(yaml, "job.yaml", kJobs);
}

std::string ErrorOf(const std::string& yaml) {
  auto spec = Parse(yaml);
  EXPECT_FALSE(spec.ok()) << "accepted:\n" << yaml;
  return spec.ok() ? "" : std::string(spec.status().message());
}

TEST(SpecLoad, ShippedDemoSpecRoundTripsThroughYaml) {
  auto spec = LoadJobSpec(kJobs / "tiny-cpu.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name(), "tiny-cpu");
  EXPECT_EQ(spec->model().moe().experts_size(), 4);
  EXPECT_EQ(spec->model().moe().routing(), v1::ROUTING_MODE_LABEL_GUIDED);

  const std::string yaml = MessageToYaml(*spec);
  v1::JobSpec again;
  ASSERT_TRUE(YamlToMessage(yaml, "round-trip", &again).ok()) << yaml;
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*spec, again)) << yaml;
}

TEST(SpecLoad, OriginalSetupSpecHasOnlyMissingFileProblems) {
  v1::JobSpec spec;
  std::ifstream in(kJobs / "mpt7b-moe-nq.yaml");
  const std::string text((std::istreambuf_iterator<char>(in)), {});
  ASSERT_TRUE(YamlToMessage(text, "mpt7b-moe-nq.yaml", &spec).ok());
  ApplyDefaults(&spec);
  EXPECT_EQ(spec.training().micro_batch_size(), 4u);
  EXPECT_EQ(spec.training().grad_accumulation(), 4u);
  EXPECT_EQ(spec.resources().world_size(), 2u);
  EXPECT_EQ(spec.data().max_seq_len(), 256u);
  EXPECT_EQ(spec.model().precision(), v1::PRECISION_BF16);
  std::vector<std::string> paths;
  for (const SpecProblem& p : FindSpecProblems(spec)) paths.push_back(p.path);
  // The machine running the tests has no mpt-7b and no NQ file; nothing else may be wrong.
  EXPECT_THAT(paths, UnorderedElementsAre("model.hf_path", "model.tokenizer", "data.train_file"));
  // Planned elsewhere than where it runs, those files need not be here (moectl plan).
  EXPECT_THAT(FindSpecProblems(spec, SpecFiles::kMayBeElsewhere), ::testing::IsEmpty());
  EXPECT_EQ(spec.zero().offload_optimizer(), v1::OFFLOAD_DEVICE_CPU);  // to fit 2 x 80 GB
}

TEST(SpecLoad, MoeLayerListIsAscendingWithinTheModelAndOffloadNeedsZeroTwo) {
  // kMinimal with 4 layers and its moe line replaced.
  std::string minimal = kMinimal;
  minimal.replace(minimal.find("n_layers: 2"), 11, "n_layers: 4");
  const size_t moe_at = minimal.find("  moe: {experts: [a, b, c, d]}\n");
  ASSERT_NE(moe_at, std::string::npos);
  const std::string head = minimal.substr(0, moe_at),
                    tail = minimal.substr(moe_at +
                                          std::string("  moe: {experts: [a, b, c, d]}\n").size());
  const auto with_moe = [&](const std::string& layers) {
    return absl::StrCat(head, "  moe: {experts: [a, b], ", layers, "}\n", tail);
  };
  auto spec = Parse(with_moe("layer_list: {layers: [0, 2]}"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_THAT(spec->model().moe().layer_list().layers(), ::testing::ElementsAre(0u, 2u));
  EXPECT_THAT(ErrorOf(with_moe("layer_list: {layers: [2, 1]}")),
              HasSubstr("model.moe.layer_list.layers[1]: 1 follows 2"));
  EXPECT_THAT(ErrorOf(with_moe("layer_list: {layers: [1, 4]}")),
              HasSubstr("layer 4 is past the model's 4 layers"));
  EXPECT_THAT(ErrorOf(with_moe("layer_list: {layers: []}")),
              HasSubstr("model.moe.layer_list.layers: list at least one layer"));
  EXPECT_THAT(ErrorOf(with_moe("every_n_layers: 2, layer_list: {layers: [1]}")),
              HasSubstr("conflicts with"));
  EXPECT_THAT(ErrorOf(absl::StrCat(kMinimal, "zero: {stage: 0, offload_optimizer: cpu}\n")),
              HasSubstr("zero.offload_optimizer: cpu needs zero.stage 2"));
}

TEST(SpecLoad, RelativePathsResolveAgainstTheSpecDirectory) {
  auto spec = Parse(kMinimal);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->data().train_file(), (kSource / "datasets/nq_sample.jsonl").string());
  EXPECT_TRUE(std::filesystem::path(spec->checkpoint().output_dir()).is_absolute());
}

TEST(SpecLoad, DefaultsFillUnsetFieldsOnly) {
  auto spec = Parse(absl::StrCat(kMinimal, "training: {learning_rate: 0.5}\n"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->training().learning_rate(), 0.5);
  EXPECT_EQ(spec->training().micro_batch_size(), 4u);
  EXPECT_EQ(spec->training().seed(), 42u);
  EXPECT_EQ(spec->data().max_seq_len(), 256u);
  EXPECT_EQ(spec->data().prompt_template(), kDefaultPromptTemplate);
  EXPECT_TRUE(spec->data().packing());
  EXPECT_TRUE(spec->model().moe().all_layers());
  EXPECT_EQ(spec->model().moe().top_k(), 1u);
  EXPECT_EQ(spec->model().config().expansion_ratio(), 4u);
  EXPECT_EQ(spec->zero().stage(), 2u);
}

TEST(SpecLoad, SaveStepsAutoChoosesTheIntervalWithADefaultMeanTimeBetweenInterruptions) {
  auto fixed = Parse(kMinimal);
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  EXPECT_EQ(fixed->checkpoint().save_steps(), 500u);
  EXPECT_FALSE(fixed->checkpoint().save_steps_auto());
  EXPECT_TRUE(fixed->checkpoint().async());
  auto automatic = Parse(absl::StrCat(kMinimal, "checkpoint: {save_steps: auto}\n"));
  ASSERT_TRUE(automatic.ok()) << automatic.status();
  EXPECT_TRUE(automatic->checkpoint().save_steps_auto());
  EXPECT_FALSE(automatic->checkpoint().has_save_steps());
  EXPECT_EQ(automatic->checkpoint().mean_time_between_interruptions(), "2h");
  // It round-trips, and `auto` is only a word for numbers that have an automatic setting.
  auto again = Parse(MessageToYaml(*automatic));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->checkpoint().save_steps_auto());
  EXPECT_THAT(ErrorOf("checkpoint: {keep_last: auto}"),
              HasSubstr("checkpoint.keep_last: expected an integer, got 'auto'"));
  auto spot = Parse(absl::StrCat(
      kMinimal, "checkpoint: {save_steps: auto, mean_time_between_interruptions: 30m}\n"));
  ASSERT_TRUE(spot.ok()) << spot.status();
  EXPECT_EQ(spot->checkpoint().mean_time_between_interruptions(), "30m");
}

TEST(SpecLoad, ExplicitZeroIsKeptNotDefaulted) {
  auto spec = Parse(absl::StrCat(kMinimal,
                                 "  packing: false\n"
                                 "zero: {stage: 0}\n"
                                 "training: {max_grad_norm: 0}\n"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_FALSE(spec->data().packing());
  EXPECT_EQ(spec->zero().stage(), 0u);
  EXPECT_EQ(spec->training().max_grad_norm(), 0.0);
}

TEST(SpecLoad, UnknownKeyIsRejectedWithPathLineAndHint) {
  const std::string error = ErrorOf(absl::StrCat(kMinimal, "training:\n  micro_batchsize: 4\n"));
  EXPECT_THAT(error, HasSubstr("job.yaml:10: training.micro_batchsize: unknown field"));
  EXPECT_THAT(error, HasSubstr("did you mean 'micro_batch_size'?"));
}

TEST(SpecLoad, UnknownNestedKeyNamesItsFullPath) {
  const std::string error = ErrorOf(R"(
name: t
model:
  moe:
    experts: [a, b]
    routng: learned
)");
  EXPECT_THAT(error, HasSubstr("job.yaml:6: model.moe.routng: unknown field"));
  EXPECT_THAT(error, HasSubstr("did you mean 'routing'?"));
}

TEST(SpecLoad, UnknownTopLevelKeyListsTheFields) {
  EXPECT_THAT(ErrorOf("name: t\nmodle: {}\n"),
              HasSubstr("modle: unknown field; did you mean 'model'? (top-level fields: name, "
                        "model, data,"));
}

TEST(SpecLoad, WrongTypesNameFieldAndValue) {
  EXPECT_THAT(ErrorOf("training: {epochs: three}"),
              HasSubstr("training.epochs: expected an integer, got 'three'"));
  EXPECT_THAT(ErrorOf("training: {epochs: -1}"),
              HasSubstr("training.epochs: must not be negative"));
  EXPECT_THAT(ErrorOf("training: {epochs: 99999999999}"),
              HasSubstr("training.epochs: '99999999999' is out of range"));
  EXPECT_THAT(ErrorOf("training: {learning_rate: fast}"),
              HasSubstr("training.learning_rate: expected a number, got 'fast'"));
  EXPECT_THAT(ErrorOf("data: {packing: maybe}"),
              HasSubstr("data.packing: expected true or false, got 'maybe'"));
  EXPECT_THAT(ErrorOf("model: {moe: {experts: a}}"),
              HasSubstr("model.moe.experts: expected a list"));
  EXPECT_THAT(ErrorOf("model: {moe: [1, 2]}"),
              HasSubstr("model.moe: expected a mapping of field: value"));
}

TEST(SpecLoad, EnumsAcceptShortLowerCaseAndRejectOthersWithChoices) {
  auto spec = Parse(absl::StrCat(kMinimal, "  prompt_template: \"Q: {question} A: {answer}\"\n",
                                 "resources: {device: CPU}\n"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->resources().device(), v1::DEVICE_CPU);
  EXPECT_THAT(ErrorOf("model: {moe: {routing: label_guide}}"),
              HasSubstr("model.moe.routing: 'label_guide' is not one of learned, label_guided, "
                        "label_forced"));
}

TEST(SpecLoad, TextThatIsNotUtf8IsRejectedNotCrashed) {
  EXPECT_THAT(
      ErrorOf("name: t\ndata: {prompt_template: \"Frage: {question} Antwort \xfc {answer}\"}\n"),
      HasSubstr("data.prompt_template: is not valid UTF-8"));
}

TEST(SpecLoad, OneofConflictIsReported) {
  EXPECT_THAT(ErrorOf("model: {hf_path: /m, config: {d_model: 8}}"),
              HasSubstr("model.config: conflicts with 'hf_path': set only one of hf_path, config"));
}

TEST(SpecLoad, MalformedYamlAndMissingFile) {
  EXPECT_THAT(ErrorOf("name: [unclosed\n"), HasSubstr("job.yaml:"));
  EXPECT_THAT(ErrorOf(""), HasSubstr("job.yaml: is empty"));
  auto missing = LoadJobSpec("/nonexistent/job.yaml");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

// Each rule: a mutation of a valid spec and the problem it must produce.
struct Rule {
  std::string path;
  std::string message;
  std::function<void(v1::JobSpec*)> mutate;
};

void PrintTo(const Rule& rule, std::ostream* os) { *os << rule.path; }

class SpecValidation : public testing::TestWithParam<Rule> {};

TEST_P(SpecValidation, ReportsTheProblemWithItsPath) {
  auto spec = Parse(kMinimal);
  ASSERT_TRUE(spec.ok()) << spec.status();
  ASSERT_THAT(FindSpecProblems(*spec), IsEmpty());
  GetParam().mutate(&*spec);
  const std::vector<SpecProblem> problems = FindSpecProblems(*spec);
  ASSERT_EQ(problems.size(), 1u) << problems.front().path << ": " << problems.front().message;
  EXPECT_EQ(problems[0].path, GetParam().path);
  EXPECT_THAT(problems[0].message, HasSubstr(GetParam().message));
  const std::string joined(ValidateJobSpec(*spec).message());
  EXPECT_THAT(joined, HasSubstr(absl::StrCat(GetParam().path, ": ")));
  EXPECT_THAT(joined, HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    EveryRule, SpecValidation,
    testing::Values(
        Rule{"name", "required", [](v1::JobSpec* s) { s->set_name("Bad Name"); }},
        Rule{"model", "set hf_path", [](v1::JobSpec* s) { s->mutable_model()->clear_config(); }},
        Rule{"model.hf_path", "is not a directory",
             [](v1::JobSpec* s) { s->mutable_model()->set_hf_path("/nonexistent"); }},
        Rule{"model.config.n_heads", "must divide d_model (64)",
             [](v1::JobSpec* s) { s->mutable_model()->mutable_config()->set_n_heads(5); }},
        Rule{"model.config.n_layers", "must be > 0",
             [](v1::JobSpec* s) { s->mutable_model()->mutable_config()->set_n_layers(0); }},
        Rule{"model.config.max_seq_len", "must be >= data.max_seq_len (256)",
             [](v1::JobSpec* s) { s->mutable_model()->mutable_config()->set_max_seq_len(128); }},
        Rule{"model.tokenizer", "is not a readable file",
             [](v1::JobSpec* s) { s->mutable_model()->set_tokenizer("/nonexistent.json"); }},
        Rule{"model.moe.experts[3]", "'a' is listed twice",
             [](v1::JobSpec* s) { s->mutable_model()->mutable_moe()->set_experts(3, "a"); }},
        Rule{"model.moe.top_k", "between 1 and the number of experts (4)",
             [](v1::JobSpec* s) { s->mutable_model()->mutable_moe()->set_top_k(5); }},
        Rule{"model.moe.capacity_factor", "must be >= 0",
             [](v1::JobSpec* s) { s->mutable_model()->mutable_moe()->set_capacity_factor(-1); }},
        Rule{"model.moe.z_loss_weight", "must be >= 0",
             [](v1::JobSpec* s) { s->mutable_model()->mutable_moe()->set_z_loss_weight(-1); }},
        Rule{"model.moe.routing", "needs model.moe.experts",
             [](v1::JobSpec* s) {
               s->mutable_model()->mutable_moe()->clear_experts();
               s->mutable_model()->mutable_moe()->set_routing(v1::ROUTING_MODE_LABEL_FORCED);
             }},
        Rule{"data.train_file", "required",
             [](v1::JobSpec* s) { s->mutable_data()->clear_train_file(); }},
        Rule{"data.max_target_len", "must be > 0 and < data.max_seq_len (256)",
             [](v1::JobSpec* s) { s->mutable_data()->set_max_target_len(256); }},
        Rule{"data.prompt_template", "{question} once and then {answer} once",
             [](v1::JobSpec* s) { s->mutable_data()->set_prompt_template("{answer} {question}"); }},
        Rule{"data.eval_fraction", "must be in [0, 1)",
             [](v1::JobSpec* s) { s->mutable_data()->set_eval_fraction(1.0); }},
        Rule{"training.eval_every", "needs a held-out split",
             [](v1::JobSpec* s) { s->mutable_training()->set_eval_every(10); }},
        Rule{"training.micro_batch_size", "must be > 0",
             [](v1::JobSpec* s) { s->mutable_training()->set_micro_batch_size(0); }},
        Rule{"training.grad_accumulation", "must be > 0",
             [](v1::JobSpec* s) { s->mutable_training()->set_grad_accumulation(0); }},
        Rule{"training.learning_rate", "must be > 0",
             [](v1::JobSpec* s) { s->mutable_training()->set_learning_rate(0); }},
        Rule{"training.epochs", "must be > 0",
             [](v1::JobSpec* s) { s->mutable_training()->set_epochs(0); }},
        Rule{"training.adam_beta2", "must be in [0, 1)",
             [](v1::JobSpec* s) { s->mutable_training()->set_adam_beta2(1.0); }},
        Rule{"zero.stage", "must be 0 (plain data parallel) or 2",
             [](v1::JobSpec* s) { s->mutable_zero()->set_stage(3); }},
        Rule{"resources.world_size", "must be > 0",
             [](v1::JobSpec* s) { s->mutable_resources()->set_world_size(0); }},
        Rule{"checkpoint.mean_time_between_interruptions", "is not a positive duration",
             [](v1::JobSpec* s) {
               s->mutable_checkpoint()->set_mean_time_between_interruptions("often");
             }},
        Rule{"logging.log_level", "must be one of",
             [](v1::JobSpec* s) { s->mutable_logging()->set_log_level("loud"); }}),
    [](const testing::TestParamInfo<Rule>& info) { return "Rule" + std::to_string(info.index); });

TEST(SpecValidationAll, EveryProblemIsListedAtOnce) {
  auto spec = Parse(kMinimal);
  ASSERT_TRUE(spec.ok());
  spec->mutable_training()->set_micro_batch_size(0);
  spec->mutable_zero()->set_stage(1);
  spec->set_name("");
  EXPECT_EQ(FindSpecProblems(*spec).size(), 3u);
  EXPECT_THAT(ErrorOf(absl::StrCat(kMinimal, "training: {micro_batch_size: 0, epochs: 0}\n")),
              testing::AllOf(HasSubstr("invalid job spec:"),
                             HasSubstr("training.micro_batch_size: must be > 0"),
                             HasSubstr("training.epochs: must be > 0")));
}

}  // namespace
}  // namespace moe::common
