// ZeRO-2's bucketed gradient path, on one rank: for any bucket size it yields exactly the
// gradient plain accumulation does, also when gradients arrive from the nested backward of
// activation checkpointing, and it leaves no parameter holding a .grad. (Partitions cut by
// buckets across ranks are covered by the multi-process tests in data_parallel_test.)
#include "worker/train/gradient_buckets.h"

#include "gtest/gtest.h"
#include "tests/testing/model_test_util.h"
#include "worker/model/mpt_model.h"
#include "worker/parallel/communicator.h"
#include "worker/train/trainer.h"

namespace moe::worker {
namespace {

class BucketSize : public ::testing::TestWithParam<int64_t> {};

TEST_P(BucketSize, EqualsPlainAccumulationAndFreesEachGrad) {
  const moe::v1::MptConfig config = testing::SmallConfig(32, 4, 2);
  const moe::v1::MoeSpec moe = testing::MoeSpecOf(4, 2);
  MptForCausalLM plain_model(config, moe), bucketed_model(config, moe);
  plain_model->InitializeWeights(3);
  bucketed_model->InitializeWeights(3);
  bucketed_model->SetActivationCheckpointing(true);
  FlatParameters plain(*plain_model), bucketed(*bucketed_model);
  LocalCommunicator one;
  const int64_t size = bucketed.params().numel();
  GradientBuckets buckets(bucketed, one, 0, size, GetParam(), /*overlap=*/true);
  if (GetParam() == 1) EXPECT_EQ(buckets.num_buckets(), bucketed.ranges().size());
  if (GetParam() >= size) EXPECT_EQ(buckets.num_buckets(), 1u);

  torch::manual_seed(4);
  for (int micro_batch = 0; micro_batch < 3; ++micro_batch) {
    const torch::Tensor ids = torch::randint(config.vocab_size(), {2, 10});
    const torch::Tensor labels = torch::randint(config.vocab_size(), {2, 10});
    for (auto* model : {&plain_model, &bucketed_model}) {
      const ModelOutput out = (*model)->forward({ids, {}, {}});
      (SummedCrossEntropy(out.logits_BTV, labels) / 40 + out.aux_loss).backward();
    }
    plain.AccumulateGradients();
    buckets.FinishMicroBatch();
  }
  EXPECT_LT(testing::MaxAbsDiff(buckets.partition_grad(), plain.grads()), 1e-6);
  // Memory stays bounded: never more than the limit of reductions in flight.
  EXPECT_LE(buckets.peak_in_flight(), static_cast<size_t>(GradientBuckets::kMaxInFlight));
  if (buckets.num_buckets() > 3) EXPECT_EQ(buckets.peak_in_flight(), 2u);
  EXPECT_GT(plain.grads().abs().max().item<double>(), 1e-3);
  for (const auto& p : bucketed_model->parameters()) EXPECT_FALSE(p.grad().defined());
}

INSTANTIATE_TEST_SUITE_P(Elements, BucketSize, ::testing::Values(1, 1000, 1 << 30));

}  // namespace
}  // namespace moe::worker
