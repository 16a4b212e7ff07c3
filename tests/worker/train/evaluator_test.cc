// Evaluation: answer normalisation, the held-out split, and exact match that a model which
// memorised a few answers actually scores (and an untrained one does not).
#include "worker/train/evaluator.h"

#include <fstream>

#include "gtest/gtest.h"
#include "tests/testing/train_test_util.h"
#include "worker/parallel/communicator.h"
#include "worker/train/trainer.h"

namespace moe::worker {
namespace {

TEST(NormalizeAnswer, FollowsTheSquadRules) {
  EXPECT_EQ(NormalizeAnswer("The  Eiffel Tower!"), "eiffel tower");
  EXPECT_EQ(NormalizeAnswer(" an apple, a pear"), "apple pear");
  EXPECT_EQ(NormalizeAnswer("1,889"), "1889");
  EXPECT_EQ(NormalizeAnswer("Theatre"), "theatre");  // only whole-word articles go
}

TEST(HeldOutSplit, IsStableDisjointAndTheRightSize) {
  int held = 0;
  for (int line = 1; line <= 20000; ++line) held += IsHeldOut(line, 0.1);
  EXPECT_NEAR(held, 2000, 200);
  EXPECT_EQ(IsHeldOut(17, 0.1), IsHeldOut(17, 0.1));
  for (int line = 1; line <= 1000; ++line) EXPECT_FALSE(IsHeldOut(line, 0.0));

  moe::v1::DataSpec data = testing::SmallJob(testing::FreshDir("split")).data();
  data.set_max_samples(0);
  data.set_eval_fraction(0.2);
  data.set_eval_max_samples(0);
  auto train = ReadQaFile(data, DataSplit::kTrain, {});
  auto eval = ReadQaFile(data, DataSplit::kEval, {});
  ASSERT_TRUE(train.ok() && eval.ok());
  EXPECT_EQ(train->records.size() + eval->records.size(), 400u);  // every line exactly once
  EXPECT_NEAR(static_cast<double>(eval->records.size()), 80, 25);
  for (const QaRecord& e : eval->records) {
    for (const QaRecord& t : train->records) ASSERT_NE(e.question, t.question);
  }
}

TEST(Evaluate, ExactMatchRewardsMemorisedAnswers) {
  // Eight questions, trained on until the model repeats their answers.
  const std::filesystem::path dir = testing::FreshDir("memorise");
  {
    std::ifstream in(testing::kSourceDir / "datasets/nq_sample.jsonl");
    std::ofstream out(dir / "eight.jsonl");
    std::string line;
    for (int i = 0; i < 8 && std::getline(in, line); ++i) out << line << '\n';
  }
  moe::v1::JobSpec spec = testing::SmallJob(dir / "run");
  spec.mutable_data()->set_train_file((dir / "eight.jsonl").string());
  spec.mutable_data()->set_max_samples(0);
  spec.mutable_model()->mutable_config()->set_d_model(64);
  spec.mutable_training()->set_epochs(150);
  spec.mutable_training()->set_micro_batch_size(1);
  spec.mutable_training()->set_grad_accumulation(1);
  spec.mutable_training()->set_learning_rate(3e-3);
  spec.mutable_training()->set_warmup_steps(10);
  spec.mutable_logging()->set_logging_steps(1000);
  LocalCommunicator comm;
  testing::RecordingProgress progress;
  auto trainer = Trainer::Create(spec, {}, comm, progress);
  ASSERT_TRUE(trainer.ok()) << trainer.status();

  auto tokenizer = Tokenizer::FromFile(spec.model().tokenizer());
  ASSERT_TRUE(tokenizer.ok());
  auto set = LoadEvalSet(spec.data(), **tokenizer, DataSplit::kTrain);
  ASSERT_TRUE(set.ok()) << set.status();
  auto before = Evaluate((*trainer)->model(), **tokenizer, spec.data(), *set);
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->exact_match, 0.0);
  (*trainer)->model()->train();
  ASSERT_TRUE((*trainer)->Run().ok());
  auto after = Evaluate((*trainer)->model(), **tokenizer, spec.data(), *set);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->samples, 8);
  EXPECT_GE(after->exact_match, 0.75) << after->ToJson().dump();
  EXPECT_LT(after->loss, 0.5 * before->loss);
  EXPECT_GT(after->tokens, 8);
  double share = 0;
  for (double s : after->expert_share) share += s;
  EXPECT_NEAR(share, 1.0, 1e-9);
}

}  // namespace
}  // namespace moe::worker
