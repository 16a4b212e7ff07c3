// Hugging Face checkpoints: bit-exact safetensors round trips, pytorch_model.bin written by
// Python, upcycling that preserves the dense model's function, and clear errors for wrong
// shapes, missing or extra tensors, truncated files and corrupt headers.
#include "worker/model/hf_checkpoint.h"

#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/model_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/model_test_util.h"
#include "worker/model/safetensors.h"

namespace moe::worker {
namespace {

using ::testing::HasSubstr;
using testing::MaxAbsDiff;
using testing::MoeSpecOf;
using testing::SmallConfig;
using testing::TempDir;

std::string ReadBytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

void WriteBytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

torch::Tensor Logits(MptForCausalLM& model, const torch::Tensor& ids) {
  torch::NoGradGuard no_grad;
  model->eval();
  return model->forward({ids, {}, {}}).logits_BTV;
}

moe::v1::ModelSpec HfSpec(const std::filesystem::path& dir, const moe::v1::MoeSpec& moe) {
  moe::v1::ModelSpec spec;
  spec.set_hf_path(dir.string());
  *spec.mutable_moe() = moe;
  return spec;
}

TEST(HfCheckpoint, SafetensorsRoundTripIsBitExact) {
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    MptForCausalLM model(SmallConfig(), MoeSpecOf(4, 2));
    model->InitializeWeights(11);
    model->SetDtype(dtype);
    const std::filesystem::path dir = TempDir("roundtrip");
    ASSERT_TRUE(SaveHfModel(model, dir).ok());
    auto loaded = BuildModel(HfSpec(dir, MoeSpecOf(4, 2)), 97, /*seed=*/99);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    (*loaded)->SetDtype(dtype);
    auto a = StoredTensors(model), b = StoredTensors(*loaded);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].first, b[i].first);
      EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
    }
  }
}

TEST(HfCheckpoint, StoredNamesFollowHuggingFaceMptAndTheExpertLayout) {
  MptForCausalLM model(SmallConfig(48, 6, 2), MoeSpecOf(2, 1));
  std::vector<std::string> names;
  for (const auto& [name, t] : StoredTensors(model)) names.push_back(name);
  EXPECT_THAT(
      names, ::testing::IsSupersetOf(
                 {"transformer.wte.weight", "transformer.norm_f.weight",
                  "transformer.blocks.0.norm_1.weight", "transformer.blocks.0.attn.Wqkv.weight",
                  "transformer.blocks.0.attn.out_proj.weight", "transformer.blocks.0.norm_2.weight",
                  "transformer.blocks.1.ffn.router.weight",
                  "transformer.blocks.1.ffn.experts.0.up_proj.weight",
                  "transformer.blocks.1.ffn.experts.1.down_proj.weight"}));
  EXPECT_EQ(names.size(), 3u + 2 * (4 + 1 + 2 * 2) - 1);  // no lm_head: embeddings are tied
}

TEST(HfCheckpoint, LoadsPytorchModelBinWrittenByPython) {
  if (std::system(MOE_PYTHON " -c 'import torch' 2>/dev/null") != 0)
    GTEST_SKIP() << "no PyTorch in " MOE_PYTHON;
  const std::filesystem::path dir = TempDir("bin");
  std::ofstream(dir / "config.json")
      << common::MptConfigToHf(SmallConfig(), moe::v1::MoeSpec()).dump();
  const std::string script = (testing::kSourceDir / "tests/worker/model/mpt_reference.py").string();
  ASSERT_EQ(
      std::system(absl::StrCat(MOE_PYTHON " ", script, " make-bin ", dir.string(), " 3").c_str()),
      0);
  auto model = BuildModel(HfSpec(dir, moe::v1::MoeSpec()), 97, 0);
  ASSERT_TRUE(model.ok()) << model.status();
  // Same logits as the Python reference reading the same .bin.
  const torch::Tensor ids = torch::randint(97, {1, 10});
  std::vector<int64_t> row(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + 10);
  std::ofstream(dir / "in.json") << nlohmann::json{{"input_ids", {row}}};
  ASSERT_EQ(
      std::system(absl::StrCat(MOE_PYTHON " ", script, " forward ", dir.string(), " ",
                               (dir / "in.json").string(), " ", (dir / "out.safetensors").string())
                      .c_str()),
      0);
  const torch::Tensor expected = *(*SafetensorsFile::Open(dir / "out.safetensors"))->Load("logits");
  EXPECT_LT(MaxAbsDiff(Logits(*model, ids), expected), 1e-4);
}

TEST(HfCheckpoint, UpcyclingADenseModelKeepsItsFunction) {
  MptForCausalLM dense(SmallConfig(), moe::v1::MoeSpec());
  dense->InitializeWeights(12);
  const std::filesystem::path dir = TempDir("upcycle");
  ASSERT_TRUE(SaveHfModel(dense, dir).ok());
  auto moe = BuildModel(HfSpec(dir, MoeSpecOf(4, 2, /*normalize=*/true)), 97, 5);
  ASSERT_TRUE(moe.ok()) << moe.status();
  const torch::Tensor ids = torch::randint(97, {2, 16});
  EXPECT_LT(MaxAbsDiff(Logits(*moe, ids), Logits(dense, ids)), 1e-4);
  // And it saves as an MoE checkpoint that loads back without upcycling.
  const std::filesystem::path moe_dir = TempDir("upcycled");
  ASSERT_TRUE(SaveHfModel(*moe, moe_dir).ok());
  auto again = BuildModel(HfSpec(moe_dir, MoeSpecOf(4, 2, true)), 97, 6);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(MaxAbsDiff(Logits(*again, ids), Logits(*moe, ids)), 0.0);
}

TEST(HfCheckpoint, WeightMismatchesAreListed) {
  MptForCausalLM model(SmallConfig(), moe::v1::MoeSpec());
  TensorMap weights;
  for (const auto& [name, t] : StoredTensors(model)) weights[name] = t.clone();
  weights.erase("transformer.norm_f.weight");
  weights["transformer.blocks.0.attn.Wqkv.weight"] = torch::zeros({3, 3});
  weights["lm_head.weight"] = torch::zeros({1});
  const absl::Status status = LoadWeights(weights, false, 0, model);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("missing: transformer.norm_f.weight"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("unexpected: lm_head.weight"));
  EXPECT_THAT(
      std::string(status.message()),
      HasSubstr(
          "transformer.blocks.0.attn.Wqkv.weight has shape [3, 3], the model needs [144, 48]"));
}

TEST(HfCheckpoint, BrokenFilesGiveClearErrors) {
  MptForCausalLM model(SmallConfig(), moe::v1::MoeSpec());
  const std::filesystem::path dir = TempDir("broken");
  ASSERT_TRUE(SaveHfModel(model, dir).ok());
  const std::filesystem::path file = dir / "model.safetensors";
  const std::string good = ReadBytes(file);
  const auto open_error = [&](const std::string& bytes) {
    WriteBytes(file, bytes);
    auto opened = SafetensorsFile::Open(file);
    EXPECT_FALSE(opened.ok());
    return std::string(opened.status().message());
  };
  EXPECT_THAT(open_error(good.substr(0, 5)), HasSubstr("shorter than its 8-byte header length"));
  EXPECT_THAT(open_error(good.substr(0, 100)), HasSubstr("does not fit the file"));
  EXPECT_THAT(open_error(good.substr(0, good.size() - 10)), HasSubstr("fall outside"));
  std::string corrupt = good;
  corrupt[8] = '[';  // the header is no longer a JSON object
  EXPECT_THAT(open_error(corrupt), HasSubstr("the header is not a JSON object"));
  // Hand-made headers: unknown dtype, size not matching shape, overlapping tensors.
  const auto with_header = [](const std::string& json, size_t data) {
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((json.size() >> (8 * i)) & 0xFF);
    return bytes + json + std::string(data, '\0');
  };
  EXPECT_THAT(
      open_error(with_header(R"({"a":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]}})", 4)),
      HasSubstr("tensor 'a': unsupported dtype 'Q7'"));
  EXPECT_THAT(
      open_error(with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 8)),
      HasSubstr("tensor 'a': holds 4 bytes; its shape needs 2 elements of 4 bytes"));
  EXPECT_THAT(
      open_error(with_header(
          R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
          8)),
      HasSubstr("tensors overlap"));
  EXPECT_THAT(
      open_error(with_header(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4)),
      HasSubstr("non-negative"));

  // Through the model loader: the error names the file.
  WriteBytes(file, good.substr(0, good.size() / 2));
  auto truncated = BuildModel(HfSpec(dir, moe::v1::MoeSpec()), 97, 0);
  EXPECT_THAT(std::string(truncated.status().message()),
              HasSubstr("model.safetensors: not a valid safetensors file"));
  std::filesystem::remove(file);
  EXPECT_THAT(std::string(BuildModel(HfSpec(dir, moe::v1::MoeSpec()), 97, 0).status().message()),
              HasSubstr("no weights"));
  WriteBytes(dir / "pytorch_model.bin", "not a pickle");
  EXPECT_THAT(std::string(BuildModel(HfSpec(dir, moe::v1::MoeSpec()), 97, 0).status().message()),
              HasSubstr("pytorch_model.bin: cannot read PyTorch pickle"));
  WriteBytes(
      dir / "config.json",
      R"({"d_model": 48, "n_heads": 6, "n_layers": 2, "vocab_size": 97, "attn_config": {"alibi": false}})");
  EXPECT_THAT(std::string(BuildModel(HfSpec(dir, moe::v1::MoeSpec()), 97, 0).status().message()),
              HasSubstr("config.json: attn_config.alibi: false is not supported"));
  WriteBytes(dir / "config.json", R"({"d_model": 48})");
  EXPECT_THAT(std::string(BuildModel(HfSpec(dir, moe::v1::MoeSpec()), 97, 0).status().message()),
              HasSubstr("\"n_heads\" must be a positive integer"));
}

}  // namespace
}  // namespace moe::worker
