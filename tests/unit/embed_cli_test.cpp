// `ibllm embed` end to end through the real binary on the tiny vision-only config and the demo
// images: output keys/shapes/unit norms, the "failed" list (metadata and stderr) for a corrupt and
// a missing file, re-reading through data::FeatureCache, equality with an in-process forward of the
// same randomly initialised model, batch/worker invariance, directory input, video (multi-clip
// mean), text through the CLIP BPE tokenizer, and the error exits (all inputs bad, bad usage,
// missing tower).
#include "tests/support/catch.h"

#include <ATen/ATen.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "data/clip_tokenizer.h"
#include "data/feature_cache.h"
#include "data/image_transform.h"
#include "data/transforms/video.h"
#include "models/imagebind/imagebind_model.h"
#include "src/io/safetensors.h"
#include "tests/support/cli_runner.h"
#include "tests/support/paths.h"
#include "tests/support/tensor_match.h"
#include "trainers/run_config.h"

#if IBLLM_WITH_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/videoio.hpp>
#endif

namespace {

namespace fs = std::filesystem;

using ibllm::test::run_cli;

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }
std::string tiny_config() { return q(ibllm::test::source_dir() / "configs/tiny_cpu.yaml"); }
bool has(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

const std::vector<std::string> kImages = {"images/red_square.png", "images/blue_circle.png",
                                          "images/green_triangle.png", "images/yellow_square.png",
                                          "images/purple_circle.png"};

// The model `embed` builds for the tiny config without --weights (init seeded with run.seed).
ibllm::models::ImageBindModel tiny_model(const std::vector<std::string>& sets = {}) {
  auto cfg =
      ibllm::train::load_run_config((ibllm::test::source_dir() / "configs/tiny_cpu.yaml").string(),
                                    sets, nullptr, ibllm::train::Checks::kSyntax);
  ibllm::models::ImageBindModel m(cfg.model.imagebind);
  at::manual_seed(static_cast<uint64_t>(cfg.run.seed));
  m->reset_parameters();
  m->eval();
  return m;
}

at::Tensor l2(const at::Tensor& x) { return x / x.norm(2, {-1}, true); }

}  // namespace

TEST_CASE("embed: vision list with bad inputs -> feature cache", "[embed][cli]") {
  const fs::path dir = ibllm::test::scratch_dir("embed_vision");
  const fs::path samples = ibllm::test::source_dir() / "data/samples";
  const fs::path corrupt = dir / "corrupt.png";
  { std::ofstream(corrupt) << "this is not a png"; }
  const fs::path list = dir / "list.txt";
  {
    std::ofstream l(list);
    l << "# demo images\n";
    for (size_t i = 0; i < 3; ++i) l << kImages[i] << "\n";
    l << corrupt.string() << "\n\n"
      << "images/does_not_exist.png\n";
    for (size_t i = 3; i < kImages.size(); ++i) l << kImages[i] << "\n";
    l << kImages[0] << "\n";  // duplicate: one row
  }
  const fs::path out = dir / "feats.safetensors";
  fs::remove(out);
  auto r = run_cli("embed " + tiny_config() + " --modality vision --input " + q(list) + " --root " +
                   q(samples) + " --out " + q(out) + " --batch 2 --workers 2 --zero-image");
  INFO(r.output);
  REQUIRE(r.code == 0);
  CHECK(has(r.output, "warning: no --weights given"));
  CHECK(has(r.output, "failed: " + corrupt.string()));
  CHECK(has(r.output, "failed: images/does_not_exist.png"));
  CHECK(has(r.output, "embedded 5 of 7 inputs (2 failed)"));

  ibllm::io::SafetensorsFile file(out.string());
  at::Tensor emb = file.tensor("embeddings");
  REQUIRE(emb.sizes() == at::IntArrayRef({6, 16}));  // "" + 5 images, tiny out_dim 16
  CHECK(emb.scalar_type() == at::kFloat);
  IBLLM_CHECK_TENSOR(emb.norm(2, {-1}), at::ones({6}), 0, 1e-5);
  auto paths = nlohmann::json::parse(file.metadata().at("paths")).get<std::vector<std::string>>();
  std::vector<std::string> want = {""};
  want.insert(want.end(), kImages.begin(), kImages.end());
  CHECK(paths == want);
  auto failed = nlohmann::json::parse(file.metadata().at("failed"));
  REQUIRE(failed.size() == 2);
  CHECK(failed[0]["path"] == corrupt.string());
  CHECK(failed[1]["path"] == "images/does_not_exist.png");
  CHECK(!failed[0]["error"].get<std::string>().empty());
  CHECK(file.metadata().at("modality") == "vision");
  CHECK(file.metadata().at("weights") == "random-init");

  // What the feature-cached dataset reads.
  ibllm::data::FeatureCache cache(out.string());
  CHECK(cache.size() == 6);
  CHECK(cache.dim() == 16);
  CHECK(cache.contains(""));
  CHECK_FALSE(cache.contains("images/does_not_exist.png"));

  // Same numbers as an in-process forward of the same model on the same pipeline.
  auto model = tiny_model();
  ibllm::data::ImageTransformConfig tc;
  tc.size = 28;
  ibllm::data::ImageTransform transform(tc);
  std::vector<at::Tensor> xs;
  for (const auto& k : kImages) xs.push_back(transform.eval((samples / k).string()));
  at::Tensor expected = l2(model->encode("vision", at::stack(xs)));
  for (size_t i = 0; i < kImages.size(); ++i) {
    INFO(kImages[i]);
    IBLLM_CHECK_TENSOR(cache.get(kImages[i]), expected[static_cast<int64_t>(i)], 1e-5, 1e-6);
  }
  IBLLM_CHECK_TENSOR(cache.get(""), l2(model->encode("vision", at::zeros({1, 3, 28, 28})))[0], 1e-5,
                     1e-6);

  // Batch size and worker count do not change the result.
  const fs::path out1 = dir / "feats_b1.safetensors";
  auto r1 = run_cli("embed " + tiny_config() + " --modality vision --input " + q(list) +
                    " --root " + q(samples) + " --out " + q(out1) + " --batch 1 --workers 1");
  INFO(r1.output);
  REQUIRE(r1.code == 0);
  ibllm::data::FeatureCache cache1(out1.string());
  CHECK(cache1.size() == 5);
  for (const auto& k : kImages) IBLLM_CHECK_TENSOR(cache1.get(k), cache.get(k), 1e-5, 1e-6);
}

TEST_CASE("embed: directory input keys are relative paths", "[embed][cli]") {
  const fs::path dir = ibllm::test::scratch_dir("embed_dir");
  const fs::path out = dir / "feats.safetensors";
  auto r = run_cli("embed " + tiny_config() + " --modality vision --input " +
                   q(ibllm::test::source_dir() / "data/samples/images") + " --out " + q(out));
  INFO(r.output);
  REQUIRE(r.code == 0);
  CHECK(has(r.output, "(0 failed)"));
  ibllm::data::FeatureCache cache(out.string());
  CHECK(cache.size() == 6);
  CHECK(cache.contains("red_square.png"));
  CHECK(cache.contains("orange_triangle.png"));
}

TEST_CASE("embed: text through the CLIP BPE tokenizer", "[embed][cli][clip][skips]") {
  IBLLM_REQUIRE_ASSET(vocab, "clip_bpe_simple_vocab_16e6.txt.gz");
  const fs::path dir = ibllm::test::scratch_dir("embed_text");
  const fs::path list = dir / "texts.txt";
  const std::vector<std::string> texts = {"a dog.", "A photo of a car", "a bird singing"};
  {
    std::ofstream l(list);
    for (const auto& t : texts) l << t << "\n";
  }
  const std::vector<std::string> sets = {"model.imagebind.modalities=[vision,text]",
                                         "model.imagebind.text.vocab_size=49408"};
  std::string set_args;
  for (const auto& s : sets) set_args += " --set '" + s + "'";
  const fs::path out = dir / "feats.safetensors";
  auto r = run_cli("embed " + tiny_config() + " --modality text --input " + q(list) + " --bpe " +
                   q(vocab) + " --out " + q(out) + set_args);
  INFO(r.output);
  REQUIRE(r.code == 0);
  ibllm::data::FeatureCache cache(out.string());
  REQUIRE(cache.size() == 3);
  auto model = tiny_model(sets);
  ibllm::data::ClipTokenizer tok(vocab.string(), {8, false});  // tiny text context_length 8
  at::Tensor expected = l2(model->encode("text", tok.tokenize(texts)));
  for (size_t i = 0; i < texts.size(); ++i)
    IBLLM_CHECK_TENSOR(cache.get(texts[i]), expected[static_cast<int64_t>(i)], 1e-5, 1e-6);

  // The tiny preset's 64-token text tower cannot take CLIP ids: a config error, not a crash.
  auto bad =
      run_cli("embed " + tiny_config() + " --modality text --input " + q(list) + " --bpe " +
              q(vocab) + " --out " + q(out) + " --set 'model.imagebind.modalities=[vision,text]'");
  CHECK(bad.code == 2);
  CHECK(has(bad.output, "vocab_size"));
}

#if IBLLM_WITH_OPENCV
TEST_CASE("embed: video clips are averaged and re-normalised", "[embed][cli][skips]") {
  const fs::path dir = ibllm::test::scratch_dir("embed_video");
  const fs::path video = dir / "ramp.avi";
  {
    cv::VideoWriter w(video.string(), cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 10,
                      cv::Size(40, 32));
    if (!w.isOpened()) IBLLM_SKIP("OpenCV cannot write MJPG video here");
    for (int i = 0; i < 40; ++i)
      w.write(cv::Mat(32, 40, CV_8UC3, cv::Scalar(i * 5, 255 - i * 5, 60)));
  }
  std::ofstream(dir / "list.txt") << "ramp.avi\nempty.avi\n";
  std::ofstream(dir / "empty.avi") << "";
  const fs::path out = dir / "feats.safetensors";
  auto r = run_cli("embed " + tiny_config() + " --modality video --input " + q(dir / "list.txt") +
                   " --out " + q(out));
  INFO(r.output);
  REQUIRE(r.code == 0);
  CHECK(has(r.output, "failed: empty.avi"));
  ibllm::data::FeatureCache cache(out.string());
  REQUIRE(cache.size() == 1);
  at::Tensor row = cache.get("ramp.avi");
  CHECK(row.norm().item<double>() == Approx(1.0).epsilon(1e-5));
  // Same as the in-process multi-clip forward: (1, clips*crops, 3, 2, 28, 28) -> mean -> L2.
  ibllm::data::VideoTransformConfig vc;
  vc.size = 28;
  at::Tensor clips = ibllm::data::VideoTransform(vc).load(video.string());
  REQUIRE(clips.sizes() == at::IntArrayRef({15, 3, 2, 28, 28}));
  at::Tensor expected = l2(tiny_model()->encode("vision", clips.unsqueeze(0)))[0];
  IBLLM_CHECK_TENSOR(row, expected, 1e-5, 1e-6);
}
#endif

TEST_CASE("embed: errors exit non-zero with a message", "[embed][cli]") {
  const fs::path dir = ibllm::test::scratch_dir("embed_errors");
  const fs::path list = dir / "bad.txt";
  {
    std::ofstream(dir / "junk.png") << "junk";
    std::ofstream(list) << (dir / "junk.png").string() << "\n";
  }
  const fs::path out = dir / "none.safetensors";
  fs::remove(out);
  auto all_bad = run_cli("embed " + tiny_config() + " --modality vision --input " + q(list) +
                         " --out " + q(out));
  CHECK(all_bad.code == 1);
  CHECK(has(all_bad.output, "all 1 inputs failed"));
  CHECK_FALSE(fs::exists(out));

  auto no_modality = run_cli("embed " + tiny_config() + " --input " + q(list) + " --out " + q(out));
  CHECK(no_modality.code == 2);
  CHECK(has(no_modality.output, "--modality"));
  auto unknown = run_cli("embed " + tiny_config() + " --modality smell --input " + q(list) +
                         " --out " + q(out));
  CHECK(unknown.code == 2);
  auto no_tower = run_cli("embed " + tiny_config() + " --modality audio --input " + q(list) +
                          " --out " + q(out));
  CHECK(no_tower.code == 2);
  CHECK(has(no_tower.output, "no 'audio' tower"));
  auto no_bpe = run_cli("embed " + tiny_config() + " --modality text --input " + q(list) +
                        " --out " + q(out));
  CHECK(no_bpe.code == 2);
  CHECK(has(no_bpe.output, "--bpe"));
}
