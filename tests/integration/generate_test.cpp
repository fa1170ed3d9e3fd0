// `ibllm generate` end to end on a tiny model trained for a few steps (towers vision + audio +
// point, random but seeded): the greedy image answer is pinned (a regression pin of this
// implementation) and the injection changes it; each modality conditions the answer (its score,
// `logprob`, differs from every other conditioning's, and a zero mixing weight removes an input
// exactly); the visual cache mixes as spec §4 says (β = 0 is no cache, β = 1 with K = 1 answers as
// the neighbour image itself); file mode batched == one by one with error records for bad lines;
// clear errors for bad inputs.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tests/support/catch.h"
#include "tests/support/cli_runner.h"
#include "tests/support/paths.h"

namespace {

namespace fs = std::filesystem;
using ibllm::test::run_cli;

// A checkpoint of the tiny pretrain config after 6 steps at a high LR (gates moved off zero).
fs::path trained(const std::string& name) {
  auto out = ibllm::test::scratch_dir(name);
  auto r = run_cli("train configs/tiny_pretrain.yaml --set run.output_dir=" + out.string() +
                   " --set trainer.max_steps=6 --set schedule.warmup_steps=1 --set optim.lr=0.05"
                   " --set 'model.imagebind.modalities=[vision,audio,point]' --set run.log_level=warn"
                   " --set trainer.eval_max_batches=1");
  INFO(r.output);
  REQUIRE(r.code == 0);
  return out / "tiny_pretrain" / "checkpoints" / "step_6";
}

// The model's towers, for `ibllm embed` to compute the same (random, seeded) embeddings.
const char* kTowers = " --set 'model.imagebind.modalities=[vision,audio,point]'";

// Runs `requests` (one JSON object each) in file mode and returns the output records in order.
std::vector<nlohmann::json> answers(const fs::path& ck, const std::vector<nlohmann::json>& requests,
                                    const std::string& name, const std::string& extra = "") {
  const auto dir = ibllm::test::scratch_dir(name);
  {
    std::ofstream f(dir / "req.jsonl");
    for (const auto& r : requests) f << r.dump() << "\n";
  }
  auto r = run_cli("generate " + ck.string() + " --requests " + (dir / "req.jsonl").string() +
                   " --out " + (dir / "out.jsonl").string() + extra);
  INFO(r.output);
  REQUIRE(r.code == 0);
  std::ifstream in(dir / "out.jsonl");
  std::vector<nlohmann::json> rows;
  std::string line;
  while (std::getline(in, line)) rows.push_back(nlohmann::json::parse(line));
  REQUIRE(rows.size() == requests.size());
  for (const auto& row : rows) {
    INFO(row.dump());
    REQUIRE(row.contains("logprob"));
  }
  return rows;
}

nlohmann::json greedy_request(const std::string& id) {
  return {{"id", id}, {"prompt", "Generate caption of this image"}, {"temperature", 0},
          {"max_new_tokens", 8}};
}

using ibllm::test::last_line;

const char* kGreedy = " --prompt 'Generate caption of this image' --temperature 0 --max-new-tokens 8";

}  // namespace

TEST_CASE("generate: greedy answers are pinned; the visual input changes the answer", "[generate][integration]") {
  const auto ck = trained("gen_pin");
  auto gen = [&](const std::string& inputs) {
    auto r = run_cli("generate " + ck.string() + kGreedy + " " + inputs);
    INFO(r.output);
    REQUIRE(r.code == 0);
    return last_line(r.output);
  };
  const auto image = gen("--image data/samples/shapes/images/val_0000.png");
  const auto none = gen("");
  CHECK(image == "thelow thelow thelow thelow");
  CHECK(image != none);  // the gated injection is live
}

TEST_CASE("generate: each modality conditions the answer; mixing weights act as specified", "[generate][integration][skips]") {
  auto audio = ibllm::test::shared_asset("dog_audio.wav");
  auto point = ibllm::test::shared_asset("example_car.pt");
  if (!audio || !point) IBLLM_SKIP("shared assets (dog_audio.wav, example_car.pt) not found");
  const auto ck = trained("gen_modalities");
  const std::string img0 = "data/samples/shapes/images/val_0000.png";
  const std::string img1 = "data/samples/shapes/images/val_0001.png";
  std::vector<nlohmann::json> req;
  auto add = [&](const std::string& id, nlohmann::json inputs) {
    auto r = greedy_request(id);
    r.update(inputs);
    req.push_back(r);
  };
  add("none", nlohmann::json::object());
  add("image0", {{"image", img0}});
  add("image1", {{"image", img1}});
  add("audio", {{"audio", audio->string()}});
  add("point", {{"point", point->string()}});
  add("image0+audio x3", {{"image", img0}, {"audio", audio->string()}, {"weights", {{"audio", 3}}}});
  add("image0 x0 + audio", {{"image", img0}, {"audio", audio->string()}, {"weights", {{"image", 0}}}});
  const auto out = answers(ck, req, "gen_modalities_io");
  std::map<std::string, double> lp;
  for (size_t i = 0; i < req.size(); ++i) {
    INFO(out[i].dump());
    REQUIRE(out[i].at("id") == req[i].at("id"));
    lp[req[i].at("id").get<std::string>()] = out[i].at("logprob").get<double>();
  }
  // Every distinct conditioning scores its answer differently: the modality's embedding reaches
  // the LLM through the bind network and the gates (these greedy answers may coincide as text).
  const std::vector<std::string> distinct = {"none", "image0", "image1", "audio", "point",
                                             "image0+audio x3"};
  for (size_t a = 0; a < distinct.size(); ++a)
    for (size_t b = a + 1; b < distinct.size(); ++b) {
      INFO(distinct[a] << " " << lp[distinct[a]] << " vs " << distinct[b] << " " << lp[distinct[b]]);
      CHECK(std::abs(lp[distinct[a]] - lp[distinct[b]]) > 1e-4);
    }
  // A zero weight removes the image from the mix: exactly the audio-only conditioning.
  CHECK(out[6].at("text") == out[3].at("text"));
  CHECK(lp["image0 x0 + audio"] == Approx(lp["audio"]).epsilon(1e-6));
  CHECK(out[1].at("text") == "thelow thelow thelow thelow");
}

TEST_CASE("generate: file mode batches equal one-by-one runs; bad lines become error records", "[generate][integration]") {
  const auto ck = trained("gen_file");
  auto dir = ibllm::test::scratch_dir("gen_file_io");
  {
    std::ofstream f(dir / "req.jsonl");
    for (int i = 0; i < 5; ++i)
      f << nlohmann::json{{"id", "r" + std::to_string(i)},
                          {"prompt", i % 2 ? "What shape is in the image?" : "Generate caption of this image"},
                          {"image", "data/samples/shapes/images/val_000" + std::to_string(i) + ".png"},
                          {"temperature", 0}, {"max_new_tokens", 6}}.dump()
        << "\n";
    f << "{not json\n";
    f << R"({"prompt": "x", "colour": "red"})" << "\n";
    f << R"({"id": "missing", "prompt": "x", "image": "no/such/file.png", "temperature": 0})" << "\n";
    f << R"({"id": "text-only", "prompt": "What is 2 plus 3?", "temperature": 0, "max_new_tokens": 6})" << "\n";
  }
  std::vector<std::vector<nlohmann::json>> runs;
  for (int b : {4, 1}) {
    const auto out = dir / ("out" + std::to_string(b) + ".jsonl");
    auto r = run_cli("generate " + ck.string() + " --requests " + (dir / "req.jsonl").string() +
                     " --out " + out.string() + " --batch " + std::to_string(b));
    INFO(r.output);
    REQUIRE(r.code == 0);
    CHECK(nlohmann::json::parse(last_line(r.output)).at("errors") == 3);
    std::ifstream in(out);
    std::vector<nlohmann::json> rows;
    std::string line;
    while (std::getline(in, line)) rows.push_back(nlohmann::json::parse(line));
    REQUIRE(rows.size() == 9);
    runs.push_back(rows);
  }
  for (size_t i = 0; i < 9; ++i) {
    INFO("line " << i + 1 << ": " << runs[0][i].dump());
    CHECK(runs[0][i].value("text", "") == runs[1][i].value("text", ""));
    CHECK(runs[0][i].contains("error") == runs[1][i].contains("error"));
  }
  CHECK(runs[0][5].at("line") == 6);
  CHECK(runs[0][6].at("error").get<std::string>().find("unknown request key 'colour'") != std::string::npos);
  CHECK(runs[0][7].at("id") == "missing");
  CHECK(runs[0][7].at("error").get<std::string>().find("no/such/file.png") != std::string::npos);
  CHECK(runs[0][8].contains("text"));
}

TEST_CASE("generate: bad inputs give clear errors", "[generate][integration]") {
  const auto ck = trained("gen_err");
  for (const char* flag : {"--image", "--audio", "--point", "--video"}) {
    auto r = run_cli("generate " + ck.string() + kGreedy + " " + flag + " /no/such/input.file");
    INFO(flag << ": " << r.output);
    CHECK(r.code == 1);
    CHECK(r.output.find("/no/such/input.file") != std::string::npos);
  }
  for (const char* flag : {"--depth", "--thermal", "--imu"}) {
    auto r = run_cli("generate " + ck.string() + kGreedy + " " + flag + " /no/such/input.file");
    INFO(flag << ": " << r.output);
    CHECK(r.code != 0);
    CHECK(r.output.find("tower") != std::string::npos);
  }
  auto t = run_cli("generate " + ck.string() + kGreedy + " --text hello");
  INFO(t.output);
  CHECK(t.code != 0);
  CHECK((t.output.find("--bpe") != std::string::npos || t.output.find("'text' tower") != std::string::npos));
  auto u = run_cli("generate " + ck.string() + " --prompt x --weight audio");
  CHECK(u.code == 2);
}

TEST_CASE("generate: the visual cache mixes the neighbours as specified (spec §4)", "[generate][integration][cache]") {
  const auto ck = trained("gen_cache");
  auto dir = ibllm::test::scratch_dir("gen_cache_io");
  const std::string img0 = "data/samples/shapes/images/val_0000.png";
  const std::string img1 = "data/samples/shapes/images/val_0001.png";
  // Two caches from `ibllm embed` (same towers and seed as the model, so the same embeddings):
  // 30 other images, and val_0000 alone.
  auto build = [&](const std::string& name, const std::vector<std::string>& images) {
    {
      std::ofstream list(dir / (name + ".txt"));
      for (const auto& p : images) list << p << "\n";
    }
    auto e = run_cli("embed configs/tiny_pretrain.yaml" + std::string(kTowers) +
                     " --modality vision --root . --input " + (dir / (name + ".txt")).string() +
                     " --out " + (dir / (name + ".safetensors")).string());
    INFO(e.output);
    REQUIRE(e.code == 0);
    auto b = run_cli("build-cache --embeddings " + (dir / (name + ".safetensors")).string() +
                     " --out " + (dir / name).string());
    INFO(b.output);
    REQUIRE(b.code == 0);
    return " --set model.cache.enabled=true --set model.cache.path=" + (dir / name).string();
  };
  std::vector<std::string> many;
  for (int i = 10; i < 40; ++i) many.push_back("data/samples/shapes/images/val_00" + std::to_string(i) + ".png");
  const std::string cache30 = build("cache30", many) + " --set model.cache.top_k=5";
  const std::string cache1 = build("cache1", {img0}) + " --set model.cache.top_k=1";

  auto one = [&](const std::string& image, const std::string& extra) {
    auto r = greedy_request("q");
    r["image"] = image;
    return answers(ck, {r}, "gen_cache_q", extra).at(0);
  };
  const auto plain0 = one(img0, "");
  const auto plain1 = one(img1, "");
  REQUIRE(std::abs(plain0.at("logprob").get<double>() - plain1.at("logprob").get<double>()) > 1e-4);
  // β = 0.5 (default), K = 5 of 30: the answer's score moves; --no-cache restores the plain run.
  const auto mixed = one(img1, cache30);
  CHECK(std::abs(mixed.at("logprob").get<double>() - plain1.at("logprob").get<double>()) > 1e-4);
  const auto off = one(img1, cache30 + " --no-cache");
  CHECK(off.at("logprob").get<double>() == plain1.at("logprob").get<double>());
  // β = 0: f' = f, exactly the plain answer.
  const auto beta0 = one(img1, cache30 + " --set model.cache.beta=0");
  CHECK(beta0.at("text") == plain1.at("text"));
  CHECK(beta0.at("logprob").get<double>() == Approx(plain1.at("logprob").get<double>()).epsilon(1e-6));
  // β = 1, K = 1, the cache holding val_0000 only: f' is val_0000's embedding (stored in fp16), so
  // asking about val_0001 answers as val_0000 itself, within the fp16 rounding of the index.
  const auto swapped = one(img1, cache1 + " --set model.cache.beta=1");
  CHECK(swapped.at("text") == plain0.at("text"));
  const double d_self = std::abs(swapped.at("logprob").get<double>() - plain0.at("logprob").get<double>());
  const double d_other = std::abs(plain1.at("logprob").get<double>() - plain0.at("logprob").get<double>());
  INFO("|swapped - image0| " << d_self << ", |image1 - image0| " << d_other);
  CHECK(d_self < 0.05 * d_other);
}

TEST_CASE("generate: on a terminal the answer streams and ends identical", "[generate][integration][skips]") {
  if (std::system("command -v script > /dev/null 2>&1") != 0) IBLLM_SKIP("util-linux `script` missing");
  const auto ck = trained("gen_tty");
  const std::string cmd = "'" + ibllm::test::cli_path().string() + "' generate " + ck.string() +
                          kGreedy + " --image data/samples/shapes/images/val_0000.png" +
                          " --set run.log_level=warn";
  auto piped = run_cli(cmd.substr(cmd.find("' ") + 2));
  REQUIRE(piped.code == 0);
  // `script` gives the child a pseudo-terminal as stdout.
  auto tty = ibllm::test::run_shell("script -qec \"" + cmd + "\" /dev/null");
  INFO(tty.output);
  REQUIRE(tty.code == 0);
  std::string text = tty.output;
  text.erase(std::remove(text.begin(), text.end(), '\r'), text.end());
  CHECK(last_line(text) == last_line(piped.output));
}
