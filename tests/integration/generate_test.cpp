// `ibllm generate` end to end on a tiny model trained for a few steps (towers vision + audio +
// point, random but seeded): greedy answers pinned per modality and for a weighted mix (regression
// pins of this implementation), the injection changes the answer, file mode batched == one by
// one with error records for bad lines, and clear errors for bad inputs.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
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
  auto audio = ibllm::test::shared_asset("dog_audio.wav");
  auto point = ibllm::test::shared_asset("example_car.pt");
  if (!audio || !point) IBLLM_SKIP("shared assets (dog_audio.wav, example_car.pt) not found");
  CHECK(gen("--audio " + audio->string()) == "thelow thelow thelow thelow");
  CHECK(gen("--point " + point->string()) == "thelow thelow thelow thelow");
  CHECK(gen("--image data/samples/shapes/images/val_0000.png --audio " + audio->string() +
            " --weight audio=3") == "thelow thelow thelow thelow");
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

TEST_CASE("generate: the visual cache built from embed outputs is applied", "[generate][integration][cache]") {
  const auto ck = trained("gen_cache");
  auto dir = ibllm::test::scratch_dir("gen_cache_io");
  {
    std::ofstream list(dir / "list.txt");
    for (int i = 10; i < 40; ++i) list << "data/samples/shapes/images/val_00" << i << ".png\n";
  }
  auto e = run_cli("embed configs/tiny_pretrain.yaml --modality vision --root . --input " +
                   (dir / "list.txt").string() + " --out " + (dir / "feats.safetensors").string());
  INFO(e.output);
  REQUIRE(e.code == 0);
  auto b = run_cli("build-cache --embeddings " + (dir / "feats.safetensors").string() + " --out " +
                   (dir / "cache").string());
  INFO(b.output);
  REQUIRE(b.code == 0);
  const std::string cache = " --set model.cache.enabled=true --set model.cache.path=" +
                            (dir / "cache").string() + " --set model.cache.top_k=5";
  auto with = run_cli("generate " + ck.string() + kGreedy +
                      " --image data/samples/shapes/images/val_0000.png" + cache +
                      " --set run.log_level=info");
  INFO(with.output);
  REQUIRE(with.code == 0);
  CHECK(with.output.find("visual cache") != std::string::npos);
  CHECK(with.output.find("30 vectors") != std::string::npos);
  auto without = run_cli("generate " + ck.string() + kGreedy +
                         " --image data/samples/shapes/images/val_0000.png" + cache +
                         " --no-cache --set run.log_level=info");
  REQUIRE(without.code == 0);
  CHECK(without.output.find("visual cache") == std::string::npos);
}

TEST_CASE("generate: on a terminal the answer streams and ends identical", "[generate][integration]") {
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
