// Checkpoint store: bitwise round trips, keep_last/latest, detection of truncated/corrupt/partial
// checkpoints, crashes during a save (a forked child SIGKILLed between files, after the rename,
// and at a random point of a large write), resume resolution, signature diffs, format versions,
// the config section, RNG capture/restore and the stop-signal flag.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <thread>

#include "src/checkpoint/checkpoint_config.h"
#include "src/checkpoint/checkpoint_meta.h"
#include "src/checkpoint/checkpoint_store.h"
#include "src/checkpoint/compatibility.h"
#include "src/io/durable_file.h"
#include "src/checkpoint/resume.h"
#include "src/checkpoint/rng_state.h"
#include "src/checkpoint/stop_signal.h"
#include "src/checkpoint/training_state.h"
#include "src/config/document.h"
#include "src/core/error.h"
#include "tests/support/catch.h"
#include "tests/support/paths.h"

using namespace ibllm;
using namespace ibllm::checkpoint;
using ibllm::io::read_file;
using ibllm::io::write_file_durably;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

bool has(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

bool any_has(const std::vector<std::string>& lines, const std::string& a,
             const std::string& b = "") {
  for (const auto& l : lines)
    if (has(l, a) && has(l, b)) return true;
  return false;
}

bool bitwise_equal(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  const at::Tensor x = a.contiguous(), y = b.contiguous();
  return std::memcmp(x.data_ptr(), y.data_ptr(), x.numel() * x.element_size()) == 0;
}

void check_maps(const std::map<std::string, at::Tensor>& got,
                const std::map<std::string, at::Tensor>& want) {
  REQUIRE(got.size() == want.size());
  for (const auto& [name, t] : want) {
    INFO(name);
    REQUIRE(got.count(name) == 1);
    CHECK(bitwise_equal(got.at(name), t));
  }
}

CheckpointContents make_contents(int seed, int64_t big_floats = 0) {
  at::manual_seed(seed);
  CheckpointContents c;
  c.model["llama.layers.0.attention.wq.weight"] = at::randn({8, 8});
  c.model["bind.norm.bias"] = at::randn({16}).to(at::kBFloat16);
  c.model["prefix_query.weight"] = at::randn({3, 5}).to(at::kHalf);
  c.model["gate"] = at::randn({2}, at::kDouble);
  if (big_floats > 0) c.model["big"] = at::randn({big_floats});
  c.optimizer["exp_avg.gate"] = at::randn({2}, at::kDouble);
  c.optimizer["exp_avg_sq.bind.norm.bias"] = at::rand({16});
  c.optimizer["step"] = at::scalar_tensor(7 + seed, at::kLong);
  c.optimizer["mask"] = at::rand({5}) > 0.5;
  c.state = {{"step", 7 + seed}, {"epoch", 1},      {"cursor", 1234},
             {"world_size", 2},  {"lr", 1.0 / 3.0}, {"rng", capture_rng_state()}};
  c.resolved_config = "run:\n  seed: " + std::to_string(seed) + "\n";
  c.signature = make_signature(c.model, {{"model", {{"llama", {{"dim", 32}}}}}});
  return c;
}

void check_same(const CheckpointContents& got, const CheckpointContents& want,
                bool optimizer = true) {
  check_maps(got.model, want.model);
  if (optimizer) check_maps(got.optimizer, want.optimizer);
  CHECK(got.state == want.state);
  CHECK(got.resolved_config == want.resolved_config);
  CHECK(got.signature == want.signature);
}

CheckpointConfig keep(int64_t n) {
  CheckpointConfig c;
  c.keep_last = n;
  return c;
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return std::string(e.what()) + " | hint: " + e.hint();
  }
  return "";
}

// Runs `save` in a forked child and returns its wait status. `on_stage` runs inside the child.
int save_in_child(const fs::path& run_dir, int64_t step, const CheckpointContents& c,
                  std::function<void(const std::string&)> on_stage) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    try {
      CheckpointStore store(run_dir, keep(0));
      store.set_fault_hook(std::move(on_stage));
      store.save(step, c);
    } catch (...) {
      ::_exit(3);
    }
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

}  // namespace

TEST_CASE("checkpoint: all contents round trip bitwise", "[checkpoint]") {
  const fs::path run = ibllm::test::scratch_dir("ckpt_roundtrip");
  CheckpointStore store(run, CheckpointConfig{});
  const auto c = make_contents(1);
  const fs::path dir = store.save(7, c);
  CHECK(dir == run / "checkpoints" / "step_7");
  CHECK(names_in(dir) == std::vector<std::string>{"config.yaml", "meta.json", "model.safetensors",
                                                  "optimizer.safetensors", "state.json"});
  for (const fs::path& p : {dir, run / "checkpoints", run}) {
    INFO(p);
    const auto got = load_checkpoint(p);
    check_same(got, c);
    CHECK(got.step == 7);
    CHECK(got.dir == dir);
    CHECK(got.has_optimizer);
  }
  const auto no_opt = load_checkpoint(dir, /*load_optimizer=*/false);
  CHECK(no_opt.optimizer.empty());
  check_same(no_opt, c, false);

  const json meta = json::parse(read_file(dir / "meta.json"));
  CHECK(meta["format_version"] == kFormatVersion);
  CHECK(meta["step"] == 7);
  CHECK(meta["files"].size() == 4);
  for (const auto& f : meta["files"]) {
    CHECK(f["bytes"].get<uint64_t>() == fs::file_size(dir / f["name"].get<std::string>()));
    CHECK(f["crc32c"].get<std::string>().size() == 8);
  }
  // Loaded tensors are owned copies: they outlive the files.
  auto loaded = load_checkpoint(dir);
  fs::remove_all(run / "checkpoints");
  CHECK(bitwise_equal(loaded.model.at("bind.norm.bias"), c.model.at("bind.norm.bias")));

  CheckpointConfig no_opt_cfg;
  no_opt_cfg.save_optimizer = false;
  CheckpointStore store2(run, no_opt_cfg);
  const auto d2 = store2.save(3, c);
  CHECK_FALSE(fs::exists(d2 / "optimizer.safetensors"));
  const auto got2 = load_checkpoint(d2);
  CHECK_FALSE(got2.has_optimizer);
  CHECK(got2.optimizer.empty());
  check_same(got2, c, false);
}

TEST_CASE("checkpoint: latest, keep_last and re-saving a step", "[checkpoint]") {
  const fs::path run = ibllm::test::scratch_dir("ckpt_keep");
  CheckpointStore store(run, keep(2));
  for (int64_t s = 1; s <= 5; ++s) store.save(s * 10, make_contents(static_cast<int>(s)));
  const fs::path cps = run / "checkpoints";
  CHECK(names_in(cps) == std::vector<std::string>{".lock", "latest", "step_40", "step_50"});
  CHECK(read_file(cps / "latest") == "step_50\n");
  CHECK(*store.find_latest() == cps / "step_50");

  // Same step again: replaced atomically, no temporary left behind.
  const auto again = make_contents(99);
  store.save(50, again);
  check_same(load_checkpoint(run), again);
  CHECK(names_in(cps) == std::vector<std::string>{".lock", "latest", "step_40", "step_50"});

  // A lower step (after resuming from an older path): `latest` follows it and is never pruned,
  // and the higher-step checkpoints that auto-resume would prefer are reported.
  std::vector<std::string> report;
  store.save(20, make_contents(3), &report);
  CHECK(read_file(cps / "latest") == "step_20\n");
  CHECK(fs::exists(cps / "step_20"));
  CHECK(any_has(report, "step_50", "higher step"));

  CheckpointStore keep_all(run, keep(0));
  for (int64_t s = 6; s <= 9; ++s) keep_all.save(s * 10, make_contents(1));
  CHECK(names_in(cps).size() == 2 + 7);  // .lock, latest, step_20 .. step_90 without step_30
}

TEST_CASE("checkpoint: find_latest skips and reports incomplete checkpoints", "[checkpoint]") {
  const fs::path run = ibllm::test::scratch_dir("ckpt_incomplete");
  CheckpointStore store(run, keep(0));
  const auto c1 = make_contents(1);
  for (int64_t s = 1; s <= 4; ++s) store.save(s, s == 1 ? c1 : make_contents(static_cast<int>(s)));
  const fs::path cps = run / "checkpoints";
  // step_4: truncated weights; step_3: meta.json missing; step_2: a flipped byte (same size).
  fs::resize_file(cps / "step_4" / "model.safetensors",
                  fs::file_size(cps / "step_4" / "model.safetensors") - 10);
  fs::remove(cps / "step_3" / "meta.json");
  {
    std::string s = read_file(cps / "step_2" / "state.json");
    s[s.size() / 2] ^= 0x01;
    write_file_durably(cps / "step_2" / "state.json", s);
  }
  fs::create_directory(cps / "step_9.tmp");
  std::vector<std::string> report;
  const auto latest = store.find_latest(&report);
  INFO(::Catch::Detail::stringify(report));
  REQUIRE(latest);
  CHECK(*latest == cps / "step_1");
  CHECK(report.size() == 4);
  CHECK(any_has(report, "step_4", "model.safetensors has"));
  CHECK(any_has(report, "step_4", "truncated"));
  CHECK(any_has(report, "step_3", "no meta.json"));
  CHECK(any_has(report, "step_2", "state.json is corrupt: crc32c"));
  CHECK(any_has(report, "step_9.tmp", "interrupted save"));
  check_same(load_checkpoint(run), c1);

  // Loading a broken checkpoint by its path names the path and the problem.
  const auto msg = error_of([&] { load_checkpoint(cps / "step_4"); });
  CHECK(has(msg, "step_4: not a complete checkpoint: model.safetensors has"));
  // Meta that is not JSON.
  write_file_durably(cps / "step_3" / "meta.json", "{\"format_version\": 1, ");
  report.clear();
  store.find_latest(&report);
  CHECK(any_has(report, "step_3", "not valid JSON"));

  // The next save removes the stale temporary and says so.
  report.clear();
  store.save(5, make_contents(5), &report);
  CHECK(any_has(report, "step_9.tmp", "removed"));
  CHECK_FALSE(fs::exists(cps / "step_9.tmp"));
}

TEST_CASE("checkpoint: a save killed mid-way leaves the previous checkpoint usable",
          "[checkpoint]") {
  const fs::path run = ibllm::test::scratch_dir("ckpt_crash");
  const fs::path cps = run / "checkpoints";
  const auto first = make_contents(1);
  CheckpointStore(run, keep(0)).save(10, first);
  const auto second = make_contents(2, 1 << 20);  // built before fork: the child only writes

  SECTION("SIGKILL between two files (the child stops after the weights; the parent kills it)") {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(fds[0]);
      try {
        CheckpointStore store(run, keep(0));
        store.set_fault_hook([&](const std::string& stage) {
          if (stage != "model.safetensors") return;
          char x = 1;
          (void)!::write(fds[1], &x, 1);
          for (;;) ::pause();
        });
        store.save(20, second);
      } catch (...) {
      }
      ::_exit(3);
    }
    ::close(fds[1]);
    char x = 0;
    REQUIRE(::read(fds[0], &x, 1) == 1);
    ::close(fds[0]);
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);
    CHECK(fs::exists(cps / "step_20.tmp" / "model.safetensors"));

    std::vector<std::string> report;
    CheckpointConfig auto_cfg;
    const auto resumed = resolve_resume(auto_cfg, run, &report);
    REQUIRE(resumed);
    CHECK(*resumed == cps / "step_10");
    CHECK(any_has(report, "step_20.tmp", "interrupted save"));
    check_same(load_checkpoint(*resumed), first);
    CHECK(read_file(cps / "latest") == "step_10\n");

    report.clear();
    CheckpointStore(run, keep(0)).save(20, second, &report);
    CHECK(any_has(report, "step_20.tmp", "removed"));
    check_same(load_checkpoint(run), second);
  }

  SECTION("SIGKILL after the rename, before `latest`: the renamed checkpoint is complete") {
    const int status = save_in_child(run, 20, second, [](const std::string& stage) {
      if (stage == "renamed") ::kill(::getpid(), SIGKILL);
    });
    REQUIRE(WIFSIGNALED(status));
    CHECK(read_file(cps / "latest") == "step_10\n");
    std::vector<std::string> report;
    CHECK(*find_latest_checkpoint(cps, &report) == cps / "step_20");
    CHECK(report.empty());
    check_same(load_checkpoint(run), second);
  }

  SECTION("SIGKILL at an arbitrary point of a large write never yields a partial checkpoint") {
    const auto large = make_contents(3, 8 << 20);  // 32 MiB of weights
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      try {
        CheckpointStore(run, keep(0)).save(20, large);
      } catch (...) {
        ::_exit(3);
      }
      ::_exit(0);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    // Kill while the weights file is half written (or later, if the child is faster than us).
    auto mid_write = [&] {
      std::error_code ec;
      const auto partial = fs::file_size(cps / "step_20.tmp" / "model.safetensors.tmp", ec);
      return (!ec && partial >= (4u << 20)) ||
             fs::exists(cps / "step_20.tmp" / "model.safetensors") || fs::exists(cps / "step_20");
    };
    while (!mid_write() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    std::vector<std::string> report;
    const auto latest = find_latest_checkpoint(cps, &report);
    REQUIRE(latest);
    INFO(::Catch::Detail::stringify(report));
    if (*latest == cps / "step_20") {
      check_same(load_checkpoint(*latest), large);  // the child finished before the kill
    } else {
      CHECK(*latest == cps / "step_10");
      check_same(load_checkpoint(*latest), first);
      CHECK(fs::exists(cps / "step_20.tmp"));
      CHECK(any_has(report, "step_20.tmp", "interrupted save"));
    }
    for (const auto& line : report) CHECK(has(line, ".tmp"));
  }
}

TEST_CASE("checkpoint: resolve_resume for auto, never and paths", "[checkpoint]") {
  const fs::path run = ibllm::test::scratch_dir("ckpt_resume");
  const fs::path cps = run / "checkpoints";
  CheckpointConfig cfg;
  std::vector<std::string> report;
  CHECK_FALSE(resolve_resume(cfg, run, &report));  // fresh run: nothing to resume
  cfg.resume = checkpoint::ResumeFrom::parse("never");
  CHECK_FALSE(resolve_resume(cfg, run, &report));

  CheckpointStore store(run, keep(0));
  store.save(5, make_contents(5));
  store.save(6, make_contents(6));
  CHECK(has(error_of([&] { resolve_resume(cfg, run, &report); }), "already holds 2 checkpoint(s)"));

  cfg.resume = checkpoint::ResumeFrom::parse("auto");
  CHECK(*resolve_resume(cfg, run, &report) == cps / "step_6");
  cfg.resume = checkpoint::ResumeFrom::parse((cps / "step_5").string());
  CHECK(*resolve_resume(cfg, run, &report) == cps / "step_5");
  cfg.resume = checkpoint::ResumeFrom::parse(cps.string());
  CHECK(*resolve_resume(cfg, run, &report) == cps / "step_6");
  cfg.resume = checkpoint::ResumeFrom::parse(run.string());
  CHECK(*resolve_resume(cfg, fs::path("/elsewhere"), &report) == cps / "step_6");

  cfg.resume = checkpoint::ResumeFrom::parse((run / "nope").string());
  auto msg = error_of([&] { resolve_resume(cfg, run, &report); });
  CHECK(has(msg, (run / "nope").string() + ": no such checkpoint"));
  cfg.resume = checkpoint::ResumeFrom::parse(run.parent_path().string());  // exists but holds no checkpoints
  CHECK(has(error_of([&] { resolve_resume(cfg, run, &report); }), "not a checkpoint directory"));

  fs::remove(cps / "step_5" / "config.yaml");
  cfg.resume = checkpoint::ResumeFrom::parse((cps / "step_5").string());
  msg = error_of([&] { resolve_resume(cfg, run, &report); });
  CHECK(has(msg, "step_5: not a complete checkpoint: config.yaml is missing"));
  cfg.resume = checkpoint::ResumeFrom::parse(cps.string());  // a checkpoints/ directory: the newest complete one, others reported
  report.clear();
  CHECK(*resolve_resume(cfg, run, &report) == cps / "step_6");
  CHECK(any_has(report, "step_5", "config.yaml is missing"));

  // Auto with checkpoints that are all broken refuses to start from scratch.
  fs::resize_file(cps / "step_6" / "state.json", 3);
  cfg.resume = checkpoint::ResumeFrom::parse("auto");
  msg = error_of([&] { resolve_resume(cfg, run, &report); });
  CHECK(has(msg, "none is complete; refusing to start from scratch"));
  CHECK(has(msg, "step_6: state.json has 3 bytes"));
  CHECK(has(msg, "step_5: config.yaml is missing"));
}

TEST_CASE("checkpoint: check_compatible shows both values", "[checkpoint]") {
  const auto c = make_contents(1);
  json saved = c.signature;
  saved["model"]["llama"]["dim"] = 4096;
  saved["global_batch"] = 64;
  json current = c.signature;
  current["tensors"]["llama.layers.0.attention.wq.weight"]["shape"] = {8, 9};
  current["tensors"]["extra.weight"] = {{"dtype", "Float"}, {"shape", {2}}};
  current["global_batch"] = 64.0;  // same value, other JSON number type
  CHECK_NOTHROW(check_compatible(c.signature, c.signature));
  const auto msg = error_of([&] { check_compatible(saved, current); });
  INFO(msg);
  CHECK(has(msg, "(3 differences)"));
  CHECK(has(msg, "model.llama.dim: checkpoint 4096, config 32"));
  CHECK(
      has(msg,
          "tensors[\"llama.layers.0.attention.wq.weight\"].shape: checkpoint [8,8], config [8,9]"));
  CHECK(has(msg, "tensors[\"extra.weight\"]: checkpoint (absent), config {"));
  CHECK_FALSE(has(msg, "global_batch"));
  CHECK(has(msg, "hint: resume with the config"));
  CHECK(signature_differences(json::array({1, {{"a", 1}}}), json::array({1, {{"a", 2}}})) ==
        std::vector<std::string>{"[1].a: checkpoint 1, config 2"});
}

TEST_CASE("checkpoint: a newer format_version is refused clearly", "[checkpoint]") {
  const fs::path run = ibllm::test::scratch_dir("ckpt_version");
  CheckpointStore store(run, keep(0));
  store.save(1, make_contents(1));
  const fs::path dir = store.save(2, make_contents(2));
  json meta = json::parse(read_file(dir / "meta.json"));
  meta["format_version"] = kFormatVersion + 1;
  write_file_durably(dir / "meta.json", meta.dump());
  const std::string want = "format_version " + std::to_string(kFormatVersion + 1) +
                           " is newer than this ibllm supports (" + std::to_string(kFormatVersion) +
                           ")";
  CHECK(has(error_of([&] { load_checkpoint(dir); }), want));
  CHECK(has(error_of([&] { store.find_latest(); }), want));  // never skipped silently
  CheckpointConfig cfg;
  CHECK(has(error_of([&] { resolve_resume(cfg, run, nullptr); }), want));
}

TEST_CASE("checkpoint: config section", "[checkpoint]") {
  {
    auto doc = config::Document::from_string("checkpoint: {}\n", "c.yaml");
    const auto c = parse_checkpoint_config(doc.root().child("checkpoint"));
    REQUIRE_NOTHROW(doc.finish());
    CHECK(c.every_steps == 0);
    CHECK(c.keep_last == 3);
    CHECK(c.resume.mode == ibllm::checkpoint::ResumeFrom::Mode::kAuto);
    CHECK(c.save_optimizer);
  }
  {
    auto doc = config::Document::from_string(
        "checkpoint:\n  every_steps: 50\n  keep_last: 0\n  resume: runs/a/checkpoints\n"
        "  save_optimizer: false\n",
        "c.yaml");
    const auto c = parse_checkpoint_config(doc.root().child("checkpoint"));
    REQUIRE_NOTHROW(doc.finish());
    CHECK(c.every_steps == 50);
    CHECK(c.keep_last == 0);
    CHECK(c.resume.mode == ibllm::checkpoint::ResumeFrom::Mode::kPath);
    CHECK(c.resume.path == "runs/a/checkpoints");
    CHECK_FALSE(c.save_optimizer);
  }
  auto doc = config::Document::from_string(
      "checkpoint:\n  every_steps: -1\n  keep_last: two\n  resume: ''\n  keep_lst: 2\n",
      "bad.yaml");
  parse_checkpoint_config(doc.root().child("checkpoint"));
  std::string msg;
  try {
    doc.finish();
  } catch (const ConfigError& e) {
    msg = e.what();
  }
  INFO(msg);
  CHECK(has(msg, "bad.yaml:2:16: checkpoint.every_steps"));
  CHECK(has(msg, "checkpoint.keep_last"));
  CHECK(has(msg, "checkpoint.resume: must be `auto`, `never` or the path"));
  CHECK(has(msg, "unknown key 'keep_lst' (did you mean 'keep_last'?)"));
}

TEST_CASE("checkpoint: due() follows every_steps", "[checkpoint]") {
  CheckpointConfig c;
  CheckpointStore never(".", c);
  CHECK_FALSE(never.due(0));
  CHECK_FALSE(never.due(100));
  c.every_steps = 5;
  CheckpointStore every5(".", c);
  CHECK_FALSE(every5.due(0));
  CHECK(every5.due(5));
  CHECK(every5.due(10));
  CHECK_FALSE(every5.due(7));
}

TEST_CASE("checkpoint: RNG state restores the exact random stream", "[checkpoint]") {
  for (size_t n = 0; n < 8; ++n) {
    std::string bytes;
    for (size_t i = 0; i < n; ++i) bytes += static_cast<char>(0xF0 + i * 37);
    CHECK(base64_decode(base64_encode(bytes.data(), bytes.size())) == bytes);
  }
  CHECK(base64_encode("foob", 4) == "Zm9vYg==");
  CHECK_THROWS_AS(base64_decode("Zm9v!g=="), CheckpointError);
  CHECK_THROWS_AS(base64_decode("Zm9"), CheckpointError);

  at::manual_seed(123);
  (void)at::randn({3});  // odd count: leaves a cached normal sample in the generator
  const json saved = json::parse(capture_rng_state().dump());  // through text, as in state.json
  const at::Tensor a1 = at::randn({5}), b1 = at::rand({4}, at::kDouble),
                   c1 = at::randint(1000, {6});
  const at::Tensor d1 = at::normal(0.0, 1.0, {1}, c10::nullopt, at::TensorOptions());
  at::manual_seed(999);
  (void)at::rand({17});
  restore_rng_state(saved);
  CHECK(bitwise_equal(at::randn({5}), a1));
  CHECK(bitwise_equal(at::rand({4}, at::kDouble), b1));
  CHECK(bitwise_equal(at::randint(1000, {6}), c1));
  CHECK(bitwise_equal(at::normal(0.0, 1.0, {1}, c10::nullopt, at::TensorOptions()), d1));

  CHECK_THROWS_AS(restore_rng_state(json::object()), CheckpointError);
  CHECK_THROWS_AS(restore_rng_state({{"cpu", "AAAA"}}), CheckpointError);  // wrong size
}

TEST_CASE("checkpoint: SIGTERM/SIGINT become a stop request", "[checkpoint]") {
  struct sigaction before;
  sigaction(SIGTERM, nullptr, &before);
  {
    StopSignalGuard guard;
    CHECK_FALSE(stop_requested());
    std::raise(SIGTERM);
    CHECK(stop_requested());
    CHECK(stop_signal() == SIGTERM);
    clear_stop_request();
    std::raise(SIGINT);
    CHECK(stop_signal() == SIGINT);
    clear_stop_request();
    CHECK_THROWS_AS(StopSignalGuard(), Error);
  }
  struct sigaction after;
  sigaction(SIGTERM, nullptr, &after);
  CHECK(after.sa_handler == before.sa_handler);
  CHECK_FALSE(stop_requested());

  // A second signal while a stop is pending is not swallowed.
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    StopSignalGuard guard;
    std::raise(SIGTERM);
    if (!stop_requested()) ::_exit(4);
    std::raise(SIGTERM);
    ::_exit(5);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGTERM);
}

TEST_CASE("checkpoint: a stop signal while an error unwinds does not hide the error",
          "[checkpoint]") {
  // Found by the 2-rank crash-resume campaign: launch/local.sh sends SIGTERM to the surviving rank
  // just as its failed collective unwinds past the trainer's guard; with the default action
  // restored, the rank died before main printed which collective failed and which rank was gone.
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    struct RaiseOnUnwind {
      ~RaiseOnUnwind() { std::raise(SIGTERM); }
    };
    try {
      RaiseOnUnwind late;  // destroyed after the guard: the signal comes once the guard is gone
      StopSignalGuard guard;
      throw std::runtime_error("all_reduce failed");
    } catch (const std::runtime_error&) {
      ::_exit(stop_requested() ? 7 : 8);  // main would print the error here
    }
    ::_exit(9);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  INFO("wait status " << status);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 7);
}

TEST_CASE("checkpoint: a second concurrent saver is refused", "[checkpoint]") {
  const fs::path run = ibllm::test::scratch_dir("ckpt_lock");
  fs::create_directories(run / "checkpoints");
  const int fd = ::open((run / "checkpoints" / ".lock").c_str(), O_RDWR | O_CREAT, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(::flock(fd, LOCK_EX) == 0);
  CheckpointStore store(run, keep(0));
  CHECK(has(error_of([&] { store.save(1, make_contents(1)); }), "another process is saving"));
  ::close(fd);
  CHECK_NOTHROW(store.save(1, make_contents(1)));
}

TEST_CASE("checkpoint: a save that fails leaves no partial directory behind", "[checkpoint]") {
  const fs::path run = ibllm::test::scratch_dir("ckpt_fail");
  CheckpointStore store(run, keep(0));
  const auto good = make_contents(1);
  store.save(1, good);
  auto bad = make_contents(2);
  bad.state["note"] = std::string("\xff\xfe not UTF-8");
  const auto msg = error_of([&] { store.save(2, bad); });
  CHECK(has(msg, "trainer state cannot be written as JSON"));
  bad = make_contents(2);
  bad.model["sparse"] = at::eye(3).to_sparse();
  CHECK(has(error_of([&] { store.save(2, bad); }), "sparse"));
  CHECK(names_in(run / "checkpoints") == std::vector<std::string>{".lock", "latest", "step_1"});
  check_same(load_checkpoint(run), good);
  CHECK_THROWS_AS(store.save(-1, good), CheckpointError);
}

// Hidden throughput check behind the numbers in the docs:
//   IBLLM_CKPT_BENCH_MB=256 ./build/ibllm_tests "checkpoint bench*"
TEST_CASE("checkpoint bench: save/verify/load throughput", "[.bench][skips]") {
  const char* mb_env = std::getenv("IBLLM_CKPT_BENCH_MB");
  if (mb_env == nullptr)
    IBLLM_SKIP("set IBLLM_CKPT_BENCH_MB (MiB per tensor; 3 tensors are saved)");
  const int64_t mb = std::atoll(mb_env);
  const fs::path run = ibllm::test::scratch_dir("ckpt_bench");
  CheckpointContents c;
  c.model["w"] = at::randn({mb * (1 << 18)});  // mb MiB of fp32 weights
  c.optimizer["exp_avg.w"] = at::randn({mb * (1 << 18)});
  c.optimizer["exp_avg_sq.w"] = at::rand({mb * (1 << 18)});
  CheckpointStore store(run, keep(0));
  auto seconds = [](auto t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  auto t0 = std::chrono::steady_clock::now();
  store.save(1, c);
  const double save_s = seconds(t0);
  t0 = std::chrono::steady_clock::now();
  REQUIRE(store.find_latest());
  const double verify_s = seconds(t0);
  t0 = std::chrono::steady_clock::now();
  const auto got = load_checkpoint(run / "checkpoints" / "step_1");
  const double load_s = seconds(t0);
  CHECK(bitwise_equal(got.optimizer.at("exp_avg_sq.w"), c.optimizer.at("exp_avg_sq.w")));
  const double total_mb = 3.0 * mb;
  std::printf(
      "checkpoint bench: %.0f MiB | save %.2f s (%.0f MiB/s, incl. fsync + crc) | "
      "find_latest verify %.2f s (%.0f MiB/s) | load %.2f s (%.0f MiB/s, incl. verify)\n",
      total_mb, save_s, total_mb / save_s, verify_s, total_mb / verify_s, load_s,
      total_mb / load_s);
}

TEST_CASE("state.json: a damaged file names the file and the key", "[checkpoint]") {
  using ibllm::checkpoint::parse_training_state;
  using ibllm::checkpoint::TrainingState;
  TrainingState s;
  s.step = 7;
  s.epoch = 1;
  s.cursor = 12;
  s.global_batch = 4;
  s.world_size = 2;
  s.reason = "every_steps";
  s.rng = nlohmann::json::array({nlohmann::json::object(), nlohmann::json::object()});
  const auto back = parse_training_state(ibllm::checkpoint::to_json(s), "ck/state.json");
  CHECK(back.step == 7);
  CHECK(back.cursor == 12);
  CHECK(back.world_size == 2);
  CHECK(back.reason == "every_steps");
  CHECK(back.rng.size() == 2);
  s.skipped_samples = {3, 0};
  CHECK(parse_training_state(ibllm::checkpoint::to_json(s), "ck/state.json").skipped_samples ==
        std::vector<int64_t>{3, 0});
  auto error_of = [](nlohmann::json j) {
    try {
      parse_training_state(j, "runs/x/checkpoints/step_7/state.json");
    } catch (const ibllm::CheckpointError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  auto good = ibllm::checkpoint::to_json(s);
  auto missing = good;
  missing.erase("step");
  CHECK(error_of(missing) == "runs/x/checkpoints/step_7/state.json: key 'step' is missing");
  auto wrong = good;
  wrong["cursor"] = "12";
  CHECK(error_of(wrong) ==
        "runs/x/checkpoints/step_7/state.json: key 'cursor' must be an integer, found string \"12\"");
  auto negative = good;
  negative["epoch"] = -1;
  CHECK(error_of(negative) ==
        "runs/x/checkpoints/step_7/state.json: key 'epoch' is -1, expected at least 0");
  auto rng = good;
  rng["rng"] = 3;
  CHECK(error_of(rng).find("key 'rng' must be a list") != std::string::npos);
  for (const auto& bad : {nlohmann::json(5), nlohmann::json::array({1, -2}), nlohmann::json::array({"1"})}) {
    auto skipped = good;
    skipped["skipped_samples"] = bad;
    CHECK(error_of(skipped).find("key 'skipped_samples' must be a list of per-rank counts") !=
          std::string::npos);
  }
  auto older = good;  // checkpoints from before the count existed
  older.erase("skipped_samples");
  CHECK(parse_training_state(older, "ck/state.json").skipped_samples.empty());
  CHECK(error_of(nlohmann::json::array()).find("expected a JSON object") != std::string::npos);
}
