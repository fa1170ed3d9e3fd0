// End-to-end runs of the real binary on the bundled tiny configs: pinned loss curves (pretrain,
// finetune), exact resume after kill -9 (with and without accumulation), stop on SIGTERM with a
// checkpoint, the non-finite guard, eval / bench JSON lines, and an export that Python loads.
// Pinned numbers come from this implementation on CPU fp32 (regression pins, not goldens); the
// tolerance (1e-4 relative) absorbs LibTorch-version rounding differences.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "src/core/metrics_writer.h"
#include "src/io/safetensors.h"
#include "tests/support/catch.h"
#include "tests/support/cli_runner.h"
#include "tests/support/paths.h"
#include "tests/support/run_outputs.h"

namespace {

namespace fs = std::filesystem;
using ibllm::test::run_cli;

std::string common(const fs::path& out, int64_t steps) {
  return " --set run.output_dir=" + out.string() + " --set trainer.max_steps=" +
         std::to_string(steps) +
         " --set trainer.log_every=1 --set trainer.eval_every=0 --set trainer.eval_max_batches=2"
         " --set schedule.warmup_steps=2"
         " --set trainer.progress_bar=false --set run.log_level=warn";
}

using ibllm::test::checkpoint_weights;
using ibllm::test::train_losses;

nlohmann::json last_json_line(const std::string& output) {
  return nlohmann::json::parse(ibllm::test::last_line(output));
}

void check_curve(const std::map<int64_t, double>& got, const std::vector<double>& pinned) {
  REQUIRE(got.size() == pinned.size());
  for (size_t i = 0; i < pinned.size(); ++i) {
    INFO("step " << i + 1 << ": got " << got.at(static_cast<int64_t>(i + 1)) << ", pinned "
                 << pinned[i]);
    CHECK(std::abs(got.at(static_cast<int64_t>(i + 1)) - pinned[i]) <= 1e-4 * std::abs(pinned[i]));
  }
}

// Runs `args` in the background and SIGKILLs it once metrics.jsonl has `after` train records.
void kill_after(const std::string& args, const fs::path& run_dir, size_t after, int sig) {
  fs::create_directories(run_dir.parent_path());
  const int pid = ibllm::test::start_cli(args, (run_dir.parent_path() / "killed.log").string());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    if (fs::exists(run_dir / "metrics.jsonl") && train_losses(run_dir).size() >= after) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid, sig);
  const int code = ibllm::test::wait_cli(pid);
  INFO("killed run exit code " << code);
  if (sig == SIGKILL) CHECK(code == 128 + SIGKILL);
  else CHECK((code == 128 + sig || code == 0));
}

// Runs the tiny pretrain for 12 steps (+ `extra`) twice under `out`: "a" uninterrupted, "b"
// SIGKILLed by IBLLM_TEST_KILL_AT right after its step-6 checkpoint is published, then resumed.
// Returns each run's train records by step (the last record of a step wins).
struct KilledAndResumed {
  std::map<int64_t, nlohmann::json> uninterrupted, resumed;
};

KilledAndResumed kill_after_step_6_and_resume(const fs::path& out, const std::string& extra) {
  auto a = out / "a", b = out / "b";
  auto ra = run_cli("train configs/tiny_pretrain.yaml" + common(a, 12) + extra);
  INFO(ra.output);
  REQUIRE(ra.code == 0);
  const std::string args_b = "train configs/tiny_pretrain.yaml" + common(b, 12) + extra;
  auto killed = ibllm::test::run_shell("IBLLM_TEST_KILL_AT=checkpoint.latest:2 \"$IBLLM_BIN\" " + args_b);
  INFO(killed.output);
  REQUIRE(killed.output.find("SIGKILL at checkpoint.latest:2") != std::string::npos);
  auto rb = run_cli(args_b);
  INFO(rb.output);
  REQUIRE(rb.code == 0);
  REQUIRE(last_json_line(rb.output).at("resumed_from") == 6);
  auto records = [](const fs::path& run) {
    std::map<int64_t, nlohmann::json> by_step;
    for (const auto& r : ibllm::core::read_metrics((run / "tiny_pretrain" / "metrics.jsonl").string()))
      if (r.value("kind", "") == "train") by_step[r.at("step").get<int64_t>()] = r;
    return by_step;
  };
  return {records(a), records(b)};
}

}  // namespace

TEST_CASE("train: tiny pretrain loss curve is pinned and falls; eval and metrics", "[train][integration]") {
  auto out = ibllm::test::scratch_dir("train_pin");
  auto r = run_cli("train configs/tiny_pretrain.yaml" + common(out, 24));
  INFO(r.output);
  REQUIRE(r.code == 0);
  auto j = last_json_line(r.output);
  CHECK(j.at("steps") == 24);
  CHECK(j.at("val").at("tokens").get<int64_t>() > 0);
  auto l = train_losses(out / "tiny_pretrain");
  check_curve(l, {6.704746723175049, 6.744830131530762, 6.723771095275879, 6.610232353210449, 6.778363227844238,
                   6.609978675842285, 6.648397445678711, 6.702675819396973, 6.692809581756592, 6.704071044921875,
                   6.651780128479004, 6.648763179779053, 6.650653839111328, 6.51969575881958, 6.429892539978027,
                   6.4995598793029785, 6.451660633087158, 6.385045051574707, 6.3361287117004395, 6.445692539215088,
                   6.290623188018799, 6.410616397857666, 6.275570392608643, 6.33804178237915});
  auto mean = [&](int64_t from) { return (l.at(from) + l.at(from + 1) + l.at(from + 2) + l.at(from + 3)) / 4; };
  CHECK(mean(21) < mean(1) - 0.2);  // visibly falling
  // every log record carries the observability fields
  auto recs = ibllm::core::read_metrics((out / "tiny_pretrain" / "metrics.jsonl").string());
  for (const char* k : {"lr", "grad_norm", "tokens_per_s", "samples_per_s", "step_ms",
                        "data_wait_ms", "peak_mem_gib", "eta_s", "ppl"})
    CHECK(recs.front().contains(k));
  CHECK(fs::exists(out / "tiny_pretrain" / "config.resolved.yaml"));
  bool tb = false;
  for (const auto& e : fs::directory_iterator(out / "tiny_pretrain" / "tb")) tb = tb || e.is_regular_file();
  CHECK(tb);

  auto ev = run_cli("eval " + (out / "tiny_pretrain" / "checkpoints" / "step_24").string() +
                    " --max-batches 2");
  INFO(ev.output);
  REQUIRE(ev.code == 0);
  auto e = last_json_line(ev.output);
  CHECK(e.at("loss").get<double>() > 0);
  CHECK(std::abs(e.at("ppl").get<double>() - std::exp(e.at("loss").get<double>())) < 1e-6 * e.at("ppl").get<double>());
  CHECK(e.at("samples") == 16);
}

TEST_CASE("train: tiny finetune loss curve is pinned", "[train][integration]") {
  auto out = ibllm::test::scratch_dir("train_ft");
  auto r = run_cli("train configs/tiny_finetune.yaml" + common(out, 10));
  INFO(r.output);
  REQUIRE(r.code == 0);
  auto l = train_losses(out / "tiny_finetune");
  // Re-pinned when the random LLaMA base stopped depending on the LoRA draws (stage 2 now sees
  // the same frozen base as stage 1).
  check_curve(l, {6.6026763916015625, 6.751340866088867, 6.723479270935059, 6.646535873413086,
                   6.421941757202148, 6.29213809967041, 6.191789150238037, 6.247762680053711,
                   6.039385795593262, 6.19411039352417});
  CHECK(l.at(10) < l.at(1));
}

TEST_CASE("train: kill -9 and resume equals an uninterrupted run, bitwise", "[train][integration][resume]") {
  for (int accum : {1, 2}) {
    DYNAMIC_SECTION("grad_accum " << accum) {
      auto out = ibllm::test::scratch_dir("train_resume");
      const std::string extra = " --set checkpoint.every_steps=1 --set checkpoint.keep_last=2"
                                " --set trainer.grad_accum=" + std::to_string(accum) +
                                " --set data.batch_size=" + std::to_string(8 / accum);
      auto a = out / "a", b = out / "b";
      auto ra = run_cli("train configs/tiny_pretrain.yaml" + common(a, 16) + extra);
      INFO(ra.output);
      REQUIRE(ra.code == 0);
      const std::string args_b = "train configs/tiny_pretrain.yaml" + common(b, 16) + extra;
      kill_after(args_b, b / "tiny_pretrain", 4, SIGKILL);
      auto rb = run_cli(args_b);
      INFO(rb.output);
      REQUIRE(rb.code == 0);
      CHECK(last_json_line(rb.output).at("resumed_from").get<int64_t>() >= 3);
      auto la = train_losses(a / "tiny_pretrain"), lb = train_losses(b / "tiny_pretrain");
      REQUIRE(la.size() == 16);
      REQUIRE(lb.size() == 16);
      for (int64_t s = 1; s <= 16; ++s) {
        INFO("step " << s);
        CHECK(la.at(s) == lb.at(s));  // bitwise
      }
      auto wa = checkpoint_weights(a / "tiny_pretrain", 16), wb = checkpoint_weights(b / "tiny_pretrain", 16);
      REQUIRE(wa.size() == wb.size());
      for (const auto& [k, v] : wa) {
        INFO(k);
        CHECK(at::equal(v, wb.at(k)));
      }
    }
  }
}

TEST_CASE("train: a log interval that spans a kill is logged as if uninterrupted", "[train][integration][resume]") {
  // Found by the crash-resume campaign's design review: with trainer.log_every 4 and checkpoints
  // every 3 steps, the record of step 8 after a resume from step 6 used to cover steps 7-8 only
  // (loss, tokens and throughput of 2 steps instead of 4). The interval's sums now travel in
  // state.json. IBLLM_TEST_KILL_AT kills right after the step-6 checkpoint is published.
  const auto [ta, tb] = kill_after_step_6_and_resume(
      ibllm::test::scratch_dir("train_log_interval"),
      " --set trainer.log_every=4 --set checkpoint.every_steps=3");
  REQUIRE(ta.size() == 3);  // steps 4, 8, 12
  REQUIRE(tb.size() == 3);
  for (const auto& [step, rec] : ta) {
    INFO("step " << step);
    for (const char* k : {"loss", "ppl", "tokens", "grad_norm", "lr", "epoch"}) {
      INFO(k);
      CHECK(rec.at(k) == tb.at(step).at(k));  // bitwise
    }
  }
}

TEST_CASE("train: skipped_samples continues across a resume on damaged data", "[train][integration][resume]") {
  // Found by the soak/crash-resume review: `skipped_samples` in metrics.jsonl was the loader's count
  // since the process started, so after a resume it restarted from 0. state.json now keeps each
  // rank's count. Every 10th training row points at a missing image.
  auto out = ibllm::test::scratch_dir("train_skipped_resume");
  const fs::path shapes = ibllm::test::source_dir() / "data/samples/shapes";
  std::ifstream in(shapes / "captions_train.tsv");
  std::ofstream tsv(out / "captions_train.tsv");
  std::string row;
  std::getline(in, row);
  tsv << row << "\n";
  for (int i = 0; std::getline(in, row); ++i) {
    const auto tab = row.find('\t');
    const fs::path image = i % 10 == 3 ? out / ("missing_" + std::to_string(i) + ".png")
                                       : shapes / row.substr(0, tab);
    tsv << image.string() << row.substr(tab) << "\n";
  }
  tsv.close();
  const std::string extra = " --set data.sources[0].path=" + (out / "captions_train.tsv").string() +
                            " --set data.sources[0].image_root=/ --set data.max_skip_fraction=0.2"
                            " --set checkpoint.every_steps=3";
  const auto [ta, tb] = kill_after_step_6_and_resume(out, extra);
  REQUIRE(ta.size() == 12);
  REQUIRE(tb.size() == 12);
  CHECK(ta.at(12).at("skipped_samples").get<int64_t>() > ta.at(6).at("skipped_samples").get<int64_t>());
  CHECK(ta.at(6).at("skipped_samples").get<int64_t>() > 0);
  for (const auto& [step, rec] : ta) {
    INFO("step " << step);
    CHECK(rec.at("skipped_samples") == tb.at(step).at("skipped_samples"));
    CHECK(rec.at("loss") == tb.at(step).at("loss"));  // bitwise
  }
}

TEST_CASE("train: resuming with a different model fails loudly with both values", "[train][integration][resume]") {
  auto out = ibllm::test::scratch_dir("train_mismatch");
  REQUIRE(run_cli("train configs/tiny_pretrain.yaml" + common(out, 3)).code == 0);
  auto r = run_cli("train configs/tiny_pretrain.yaml" + common(out, 6) + " --set model.bind.n_blocks=2");
  INFO(r.output);
  CHECK(r.code == 1);
  CHECK(r.output.find("n_blocks: checkpoint 3, config 2") != std::string::npos);
  auto g = run_cli("train configs/tiny_pretrain.yaml" + common(out, 6) + " --set data.batch_size=4");
  INFO(g.output);
  CHECK(g.code == 1);
  CHECK(g.output.find("global batch 8, this config has 4") != std::string::npos);
}

TEST_CASE("train: SIGTERM saves a checkpoint and the run resumes to the same end", "[train][integration][resume]") {
  auto out = ibllm::test::scratch_dir("train_term");
  auto a = out / "a", b = out / "b";
  REQUIRE(run_cli("train configs/tiny_pretrain.yaml" + common(a, 16)).code == 0);
  const std::string args_b = "train configs/tiny_pretrain.yaml" + common(b, 16);
  kill_after(args_b, b / "tiny_pretrain", 2, SIGTERM);
  std::string reasons;
  for (const auto& e : fs::directory_iterator(b / "tiny_pretrain" / "checkpoints"))
    if (e.is_directory()) reasons += e.path().filename().string() + " ";
  INFO("checkpoints after SIGTERM: " << reasons);
  CHECK(!reasons.empty());
  auto rb = run_cli(args_b);
  INFO(rb.output);
  REQUIRE(rb.code == 0);
  auto wa = checkpoint_weights(a / "tiny_pretrain", 16), wb = checkpoint_weights(b / "tiny_pretrain", 16);
  for (const auto& [k, v] : wa) CHECK(at::equal(v, wb.at(k)));
}

TEST_CASE("train: non-finite steps are skipped, then the run aborts with a diagnostic", "[train][integration]") {
  // A feature cache whose embeddings are NaN: every step's loss is non-finite.
  auto out = ibllm::test::scratch_dir("train_nan");
  std::ofstream(out / "caps.tsv") << "url\tcaption\na.png\tA red circle.\nb.png\tA blue square.\n"
                                  << "c.png\tA green ring.\nd.png\tA white cross.\n";
  auto emb = at::full({4, 16}, NAN);
  ibllm::io::write_safetensors((out / "feats.safetensors").string(), {{"embeddings", emb}},
                               {{"paths", R"(["a.png","b.png","c.png","d.png"])"}});
  const std::string src = "[{kind: caption_tsv, path: " + (out / "caps.tsv").string() +
                          ", features: " + (out / "feats.safetensors").string() + "}]";
  auto r = run_cli("train configs/tiny_pretrain.yaml" + common(out, 12) + " --set 'data.sources=" +
                   src + "' --set 'data.val_sources=[]' --set data.batch_size=2"
                   " --set trainer.max_bad_steps=3 --set checkpoint.every_steps=1");
  INFO(r.output);
  CHECK(r.code == 1);
  CHECK(r.output.find("3 consecutive non-finite steps") != std::string::npos);
  CHECK(r.output.find("dataset indices") != std::string::npos);
  // skipped steps never changed the weights: every checkpoint equals the initial values
  auto recs = ibllm::core::read_metrics((out / "tiny_pretrain" / "metrics.jsonl").string());
  int skips = 0;
  for (const auto& rec : recs) skips += rec.value("kind", "") == "skip";
  CHECK(skips == 3);
}

TEST_CASE("train: bench prints one JSON line per batch size", "[train][integration][bench]") {
  auto r = run_cli("bench configs/tiny_pretrain.yaml --batch-sizes 2,4 --set bench.steps=2 "
                   "--set bench.warmup_steps=1 --set run.log_level=warn");
  INFO(r.output);
  REQUIRE(r.code == 0);
  std::istringstream in(r.output);
  std::string line;
  std::vector<nlohmann::json> rows;
  while (std::getline(in, line))
    if (!line.empty() && line[0] == '{') rows.push_back(nlohmann::json::parse(line));
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].at("batch") == 2);
  CHECK(rows[1].at("batch") == 4);
  for (const auto& j : rows) {
    CHECK(j.at("step_ms").get<double>() > 0);
    CHECK(j.at("tokens_per_s").get<double>() > 0);
    CHECK(j.at("seq_len") == 64);
    CHECK(j.at("trainable_params").get<int64_t>() > 0);
    // per-phase times: wall clock on the CPU; together they cover most of the step
    CHECK(j.at("phase_timing") == "wall clock");
    double sum = 0;
    for (const char* p : {"encoder_forward", "llm_forward", "backward", "grad_sync", "optimizer"}) {
      INFO(p);
      const double v = j.at("phase_ms").at(p).get<double>();
      CHECK(v >= 0);
      sum += v;
    }
    CHECK(j.at("phase_ms").at("llm_forward").get<double>() > 0);
    CHECK(j.at("phase_ms").at("backward").get<double>() > 0);
    CHECK(sum <= j.at("step_ms").get<double>() * 1.01);
    CHECK(sum >= j.at("step_ms").get<double>() * 0.5);
  }
}

TEST_CASE("train: export writes official-key delta files that Python's torch.load reads", "[train][integration][export][skips]") {
  auto out = ibllm::test::scratch_dir("train_export");
  REQUIRE(run_cli("train configs/tiny_pretrain.yaml" + common(out, 2)).code == 0);
  const auto ck = out / "tiny_pretrain" / "checkpoints" / "step_2";
  auto ex = run_cli("export " + ck.string() + " --out " + (out / "export").string() + " --merged");
  INFO(ex.output);
  REQUIRE(ex.code == 0);
  auto delta = ibllm::io::read_safetensors((out / "export" / "delta.safetensors").string());
  CHECK(delta.count("image_bind_proj.weight"));
  CHECK(delta.count("prefix_query.weight"));
  CHECK(delta.count("llama.layers.0.attention.gate"));
  CHECK(!delta.count("llama.layers.0.attention.wq.weight"));
  // the trained tensors are the checkpoint's
  for (const auto& [k, v] : ibllm::io::read_safetensors((ck / "model.safetensors").string())) {
    INFO(k);
    CHECK(at::equal(v, delta.at(k)));
  }
  auto merged = ibllm::io::read_safetensors((out / "export" / "merged.safetensors").string());
  CHECK(merged.count("llama.layers.0.attention.wq.weight"));
  CHECK(fs::exists(out / "export" / "merged.manifest.json"));

  const std::string python = ibllm::test::python();
  if (::access(python.c_str(), X_OK) != 0) IBLLM_SKIP(python << " not available");
  const auto script = ibllm::test::source_dir() / "tests" / "golden" / "gen" / "check_pth_export.py";
  const std::string cmd = "'" + python + "' '" + script.string() + "' '" +
                          (out / "export" / "delta.pth").string() + "' '" +
                          (out / "export" / "delta.safetensors").string() + "' 2>&1";
  std::string py;
  std::FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p);
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) py += buf;
  const int status = ::pclose(p);
  INFO(py);
  if (py.find("SKIP") != std::string::npos) IBLLM_SKIP("python3 has no torch: " << py);
  CHECK(status == 0);
  CHECK(py.find("OK") != std::string::npos);
}

TEST_CASE("train: a checkpoint that cannot be written leaves the previous one intact", "[train][integration][resume]") {
  // The write fails through a file-size limit (prlimit --fsize, RLIMIT_FSIZE) set between the
  // sizes of model.safetensors and optimizer.safetensors: the optimizer file gets EFBIG half-way.
  auto out = ibllm::test::scratch_dir("train_disk_full");
  const std::string every = " --set checkpoint.every_steps=2 --set checkpoint.keep_last=0";
  auto first = run_cli("train configs/tiny_pretrain.yaml" + common(out, 4) + every);
  INFO(first.output);
  REQUIRE(first.code == 0);
  const fs::path cks = out / "tiny_pretrain" / "checkpoints";
  const auto model_bytes = fs::file_size(cks / "step_4" / "model.safetensors");
  const auto optim_bytes = fs::file_size(cks / "step_4" / "optimizer.safetensors");
  const auto limit = (model_bytes + optim_bytes) / 2;
  REQUIRE(model_bytes < limit);
  REQUIRE(limit < optim_bytes);
  auto latest = [&] {
    std::ifstream in(cks / "latest");
    std::string s;
    std::getline(in, s);
    return s;
  };
  REQUIRE(latest() == "step_4");
  const std::string limited = "prlimit --fsize=" + std::to_string(limit) + " \"$IBLLM_BIN\" ";

  SECTION("default (stop): the run ends with one clear error") {
    auto r = ibllm::test::run_shell(limited + "train configs/tiny_pretrain.yaml" + common(out, 8) + every);
    INFO(r.output);
    CHECK(r.code == 1);
    CHECK(r.output.find("step_6.tmp: the step 6 checkpoint could not be written") != std::string::npos);
    CHECK(r.output.find("File too large") != std::string::npos);
    CHECK(r.output.find("it needs about") != std::string::npos);
    CHECK(r.output.find("step_4 and `latest` are untouched") != std::string::npos);
    CHECK(r.output.find("checkpoint.on_write_error: continue") != std::string::npos);  // the hint
    CHECK_FALSE(fs::exists(cks / "step_6.tmp"));
    CHECK_FALSE(fs::exists(cks / "step_6"));
    CHECK(latest() == "step_4");
    // The kept checkpoint resumes (its files verified) and the run finishes without the limit.
    auto again = run_cli("train configs/tiny_pretrain.yaml" + common(out, 8) + every);
    INFO(again.output);
    REQUIRE(again.code == 0);
    CHECK(last_json_line(again.output).at("resumed_from") == 4);
    CHECK(latest() == "step_8");
  }
  SECTION("on_write_error: continue keeps training; the final save still stops") {
    auto r = ibllm::test::run_shell(limited + "train configs/tiny_pretrain.yaml" + common(out, 8) +
                                    every + " --set checkpoint.on_write_error=continue");
    INFO(r.output);
    CHECK(r.code == 1);
    CHECK(r.output.find("training continues without the step 6 checkpoint") != std::string::npos);
    CHECK(r.output.find("the step 8 checkpoint could not be written") != std::string::npos);
    CHECK(train_losses(out / "tiny_pretrain").size() == 8);  // steps 5-8 trained
    CHECK_FALSE(fs::exists(cks / "step_6"));
    CHECK_FALSE(fs::exists(cks / "step_8.tmp"));
    CHECK(latest() == "step_4");
  }
}

namespace {

// A small tmpfs mounted for one test (real ENOSPC and EROFS); unmounted when it goes out of scope.
// Mounting needs CAP_SYS_ADMIN: without it the test skips, naming why.
class SmallTmpfs {
 public:
  SmallTmpfs(const fs::path& where, const std::string& size) : where_(where) {
    fs::create_directories(where_);
    auto r = ibllm::test::run_shell("mount -t tmpfs -o size=" + size + " ibllm_test " + where_.string());
    mounted_ = r.code == 0;
    error_ = r.output;
  }
  ~SmallTmpfs() {
    if (mounted_) ibllm::test::run_shell("umount -l " + where_.string());
  }
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }
  void remount(const std::string& opts) const {
    REQUIRE(ibllm::test::run_shell("mount -o remount," + opts + " " + where_.string()).code == 0);
  }
  // Leaves about `free_bytes` free by writing a filler file.
  void fill_leaving(uintmax_t free_bytes) const {
    fs::remove(where_ / "filler");
    const auto avail = fs::space(where_).available;
    REQUIRE(avail > free_bytes);
    REQUIRE(ibllm::test::run_shell("head -c " + std::to_string(avail - free_bytes) +
                                   " /dev/zero > " + (where_ / "filler").string()).code == 0);
  }

 private:
  fs::path where_;
  bool mounted_ = false;
  std::string error_;
};

std::string file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("train: a full or read-only disk fails checkpoints and exports cleanly (tmpfs)", "[train][integration][export][resume][skips]") {
  auto out = ibllm::test::scratch_dir("train_tmpfs");
  REQUIRE(run_cli("train configs/tiny_pretrain.yaml" + common(out, 2)).code == 0);
  const auto ck = out / "tiny_pretrain" / "checkpoints" / "step_2";
  const auto ck_bytes = fs::file_size(ck / "model.safetensors") + fs::file_size(ck / "optimizer.safetensors");
  const fs::path mnt = out / "mnt";
  SmallTmpfs disk(mnt, "8m");
  if (!disk.mounted()) IBLLM_SKIP("cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN): " << disk.error());

  SECTION("export: ENOSPC keeps the previous export, EROFS is one clear error") {
    const fs::path ex = mnt / "export";
    auto first = run_cli("export " + ck.string() + " --out " + ex.string() + " --merged");
    INFO(first.output);
    REQUIRE(first.code == 0);
    std::map<std::string, std::string> before;
    for (const auto& e : fs::directory_iterator(ex)) before[e.path().filename()] = file_bytes(e.path());
    REQUIRE(before.size() == 4);
    disk.fill_leaving(fs::file_size(ex / "delta.safetensors") / 2);
    auto full = run_cli("export " + ck.string() + " --out " + ex.string() + " --merged --dtype bf16");
    INFO(full.output);
    CHECK(full.code == 1);
    CHECK(full.output.find(ex.string() + ": the export could not be written") != std::string::npos);
    CHECK(full.output.find("No space left on device") != std::string::npos);
    CHECK(full.output.find("it needs about") != std::string::npos);
    CHECK_FALSE(fs::exists(ex / ".export.tmp"));
    std::map<std::string, std::string> after;
    for (const auto& e : fs::directory_iterator(ex)) after[e.path().filename()] = file_bytes(e.path());
    CHECK(after == before);  // bitwise the previous export, nothing added

    disk.remount("ro");
    auto ro = run_cli("export " + ck.string() + " --out " + (mnt / "other").string());
    INFO(ro.output);
    CHECK(ro.code == 1);
    CHECK(ro.output.find("the export could not be written") != std::string::npos);
    CHECK(ro.output.find("Read-only file system") != std::string::npos);
  }
  SECTION("train: ENOSPC at a periodic save keeps the previous checkpoint; a read-only output dir is one error") {
    const std::string every = " --set checkpoint.every_steps=2 --set checkpoint.keep_last=0";
    const auto run_dir = mnt / "tiny_pretrain";
    auto first = run_cli("train configs/tiny_pretrain.yaml" + common(mnt, 2) + every);
    INFO(first.output);
    REQUIRE(first.code == 0);
    disk.fill_leaving(ck_bytes / 2);
    auto full = run_cli("train configs/tiny_pretrain.yaml" + common(mnt, 4) + every);
    INFO(full.output);
    CHECK(full.code == 1);
    CHECK(full.output.find("the step 4 checkpoint could not be written") != std::string::npos);
    CHECK(full.output.find("No space left on device") != std::string::npos);
    CHECK(full.output.find("step_2 and `latest` are untouched") != std::string::npos);
    CHECK_FALSE(fs::exists(run_dir / "checkpoints" / "step_4.tmp"));
    CHECK(fs::exists(run_dir / "checkpoints" / "step_2" / "meta.json"));

    disk.remount("ro");
    auto ro = run_cli("train configs/tiny_pretrain.yaml" + common(mnt / "elsewhere", 2));
    INFO(ro.output);
    CHECK(ro.code == 1);
    CHECK(ro.output.find("Read-only file system") != std::string::npos);
    CHECK(ro.output.find((mnt / "elsewhere").string()) != std::string::npos);
  }
}
