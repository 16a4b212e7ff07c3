// Sampler and loader: deterministic epoch orders, packing that never mixes samples inside an
// attention block, O(1) seek equal to reading, and rank slices that are disjoint and complete
// on any world size.
#include "worker/data/data_loader.h"

#include <algorithm>
#include <numeric>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/test_data.h"
#include "worker/data/sampler.h"

namespace moe::worker {
namespace {

class LoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tokenizer_ = testing::TinyTokenizer();
    auto data = Dataset::Load(
        testing::DataSpecFor((testing::kSourceDir / "datasets/nq_sample.jsonl").string()),
        *tokenizer_, {});
    ASSERT_TRUE(data.ok()) << data.status();
    dataset_ = std::move(data).value();
  }

  LoaderOptions Options(int32_t world_size = 1, int32_t rank = 0, bool packing = true) const {
    LoaderOptions o;
    o.micro_batch_size = 2;
    o.max_seq_len = 128;
    o.packing = packing;
    o.seed = 1234;
    o.world_size = world_size;
    o.rank = rank;
    return o;
  }

  // Every sample index this rank sees in one epoch, in order.
  std::vector<uint32_t> EpochSamples(LoaderOptions o, uint64_t epoch, uint64_t from = 0) const {
    DataLoader loader(*dataset_, o);
    loader.Seek(epoch, from);
    std::vector<uint32_t> seen;
    Batch batch;
    while (loader.Next(&batch)) seen.insert(seen.end(), batch.samples.begin(), batch.samples.end());
    return seen;
  }

  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<Dataset> dataset_;
};

TEST(Sampler, SameSeedSameOrderAndEveryEpochDiffers) {
  const std::vector<uint32_t> a = EpochOrder(1000, 42, 0);
  EXPECT_EQ(a, EpochOrder(1000, 42, 0));
  EXPECT_NE(a, EpochOrder(1000, 42, 1));
  EXPECT_NE(a, EpochOrder(1000, 43, 0));
  std::vector<uint32_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  std::vector<uint32_t> identity(1000);
  std::iota(identity.begin(), identity.end(), 0u);
  EXPECT_EQ(sorted, identity);  // a permutation
  EXPECT_NE(a, identity);
}

TEST(Sampler, IsUnbiasedOverManySeeds) {
  // Each element lands in each position about equally often (a biased shuffle fails).
  constexpr int kN = 5, kTrials = 20000;
  std::vector<std::vector<int>> counts(kN, std::vector<int>(kN, 0));
  for (int t = 0; t < kTrials; ++t) {
    const std::vector<uint32_t> order = EpochOrder(kN, t, 0);
    for (int pos = 0; pos < kN; ++pos) ++counts[order[pos]][pos];
  }
  for (const auto& row : counts) {
    for (int c : row) EXPECT_NEAR(c, kTrials / kN, kTrials / kN * 0.1);
  }
}

TEST_F(LoaderTest, PackingNeverMixesSamplesInsideAnAttentionBlock) {
  DataLoader loader(*dataset_, Options());
  Batch batch;
  int64_t rows_with_several = 0;
  while (loader.Next(&batch)) {
    size_t next_sample = 0;
    for (int32_t r = 0; r < batch.rows; ++r) {
      const int32_t* seg = &batch.segment_ids[r * batch.seq_len];
      int32_t t = 0, segments = 0;
      while (t < batch.seq_len && seg[t] != 0) {
        // A segment is exactly one whole sample, contiguous, numbered 1, 2, ... in the row.
        ASSERT_EQ(seg[t], segments + 1);
        const uint32_t index = batch.samples[next_sample++];
        const SampleView s = dataset_->sample(index);
        for (size_t k = 0; k < s.ids.size(); ++k, ++t) {
          ASSERT_EQ(seg[t], segments + 1);
          ASSERT_EQ(batch.input_ids[r * batch.seq_len + t], s.ids[k]);
        }
        // The last token of a sample predicts nothing: no label reaches into the next one.
        EXPECT_EQ(batch.labels[r * batch.seq_len + t - 1], kIgnoreLabel);
        ++segments;
      }
      for (; t < batch.seq_len; ++t) {  // the rest of the row is padding
        ASSERT_EQ(seg[t], 0);
        ASSERT_EQ(batch.labels[r * batch.seq_len + t], kIgnoreLabel);
      }
      rows_with_several += segments > 1;
    }
    EXPECT_EQ(next_sample, batch.samples.size());
  }
  EXPECT_GT(rows_with_several, 0);  // packing actually packed
}

TEST_F(LoaderTest, PaddedLayoutHasOneSamplePerRow) {
  const std::vector<uint32_t> seen = EpochSamples(Options(1, 0, /*packing=*/false), 0);
  EXPECT_EQ(seen, EpochOrder(static_cast<uint32_t>(dataset_->size()), 1234, 0));
  DataLoader loader(*dataset_, Options(1, 0, false));
  Batch batch;
  ASSERT_TRUE(loader.Next(&batch));
  EXPECT_EQ(batch.samples.size(), 2u);
  EXPECT_EQ(loader.position(), 2u);
}

TEST_F(LoaderTest, OneRankReadsTheEpochOrderExactlyOnce) {
  const auto order = EpochOrder(static_cast<uint32_t>(dataset_->size()), 1234, 3);
  EXPECT_EQ(EpochSamples(Options(), 3), order);
  EXPECT_NE(EpochSamples(Options(), 3), EpochSamples(Options(), 4));
}

TEST_F(LoaderTest, SeekEqualsReading) {
  // Record the position before every micro-step, then seek to each and compare.
  DataLoader reader(*dataset_, Options(2, 1));
  reader.Seek(1, 0);
  std::vector<std::pair<uint64_t, Batch>> steps;
  for (Batch b; true;) {
    const uint64_t at = reader.position();
    if (!reader.Next(&b)) break;
    steps.emplace_back(at, b);
  }
  ASSERT_GT(steps.size(), 5u);
  DataLoader seeker(*dataset_, Options(2, 1));
  for (const auto& [position, expected] : steps) {
    seeker.Seek(1, position);
    Batch b;
    ASSERT_TRUE(seeker.Next(&b));
    EXPECT_EQ(b.input_ids, expected.input_ids);
    EXPECT_EQ(b.labels, expected.labels);
    EXPECT_EQ(b.segment_ids, expected.segment_ids);
    EXPECT_EQ(b.samples, expected.samples);
  }
  // From any position k, the samples read are the epoch order from k on.
  const auto order = EpochOrder(static_cast<uint32_t>(dataset_->size()), 1234, 1);
  for (uint64_t k : {0ul, 1ul, 17ul, 123ul, order.size() - 1, order.size()}) {
    EXPECT_EQ(EpochSamples(Options(), 1, k), std::vector<uint32_t>(order.begin() + k, order.end()))
        << "k = " << k;
  }
}

TEST_F(LoaderTest, RankSlicesAreDisjointAndComplete) {
  const auto order = EpochOrder(static_cast<uint32_t>(dataset_->size()), 1234, 0);
  for (int32_t world : {1, 2, 3, 5}) {
    std::vector<uint32_t> all;
    std::vector<int64_t> steps;
    for (int32_t rank = 0; rank < world; ++rank) {
      const std::vector<uint32_t> mine = EpochSamples(Options(world, rank), 0);
      all.insert(all.end(), mine.begin(), mine.end());
      DataLoader loader(*dataset_, Options(world, rank));
      int64_t n = 0;
      for (Batch b; loader.Next(&b);) ++n;
      steps.push_back(n);
    }
    std::sort(all.begin(), all.end());
    std::vector<uint32_t> expected = order;
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(all, expected) << "world " << world;  // every sample once: disjoint, complete
    // Every rank runs the same number of micro-steps, so collectives line up.
    EXPECT_EQ(std::set<int64_t>(steps.begin(), steps.end()).size(), 1u) << "world " << world;
    // Another epoch's order packs differently, and StepsInEpoch plans it without reading.
    DataLoader other(*dataset_, Options(world, 0));
    other.Seek(3, 0);
    int64_t epoch3 = 0;
    for (Batch b; other.Next(&b);) ++epoch3;
    EXPECT_EQ(DataLoader(*dataset_, Options(world, 0)).StepsInEpoch(3), epoch3);
    DataLoader loader(*dataset_, Options(world, 0));
    EXPECT_EQ(loader.StepsInEpoch(0), steps[0]);
  }
}

TEST_F(LoaderTest, PositionMeansTheSameOnAnyWorldSize) {
  // Two ranks stop after 3 micro-steps; one rank resumes from that position and reads the rest
  // of the epoch: together, the whole order once.
  std::vector<uint32_t> first;
  uint64_t position = 0;
  for (int32_t rank = 0; rank < 2; ++rank) {
    DataLoader loader(*dataset_, Options(2, rank));
    Batch b;
    for (int i = 0; i < 3 && loader.Next(&b); ++i)
      first.insert(first.end(), b.samples.begin(), b.samples.end());
    position = loader.position();
  }
  const std::vector<uint32_t> rest = EpochSamples(Options(1, 0), 0, position);
  const auto order = EpochOrder(static_cast<uint32_t>(dataset_->size()), 1234, 0);
  std::sort(first.begin(), first.end());
  std::vector<uint32_t> head(order.begin(), order.begin() + position);
  std::sort(head.begin(), head.end());
  EXPECT_EQ(first, head);
  EXPECT_EQ(rest, std::vector<uint32_t>(order.begin() + position, order.end()));
}

}  // namespace
}  // namespace moe::worker
