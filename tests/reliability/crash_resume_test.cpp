// The crash-resume campaign (issue 18): the tiny pretrain is SIGKILLed at seeded moments (inside a
// step, between the files of a checkpoint, around meta.json / the rename / `latest`, mid-file,
// mid-eval, at a random time, while pruning, and `ibllm export` mid-write), rerun after each kill
// (it resumes by itself), and compared with an uninterrupted run: final weights and optimizer
// state byte for byte, state.json, and every train/eval record of metrics.jsonl on every field
// but the timings. After each kill every step_<N>/ must pass the project's full validation and the
// next process must resume from the newest of them (a *.tmp never counts). CI runs a few kills;
// tests/reliability/crash_resume.sh runs the 50-kill figure (IBLLM_CRASH_KILLS, _SEED, _SET).
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "src/core/metrics_writer.h"
#include "src/io/safetensors.h"
#include "tests/reliability/crash_campaign.h"
#include "tests/support/catch.h"
#include "tests/support/cli_runner.h"
#include "tests/support/paths.h"

namespace {

namespace fs = std::filesystem;
using namespace ibllm::test;

constexpr int64_t kSteps = 24;
constexpr int kKillsPerEpisode = 5;  // then the run is let finish and compared
constexpr int64_t kDistTimeoutS = 20;

int64_t env_int(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::stoll(v) : fallback;
}

// IBLLM_CRASH_SET: extra `--set` overrides for the reference and every campaign process, e.g.
// "trainer.grad_accum=2 dist.zero_stage=1" (crash_resume.sh --set). Only [A-Za-z0-9_.=-] so the
// shell command line needs no quoting.
std::string extra_overrides() {
  const char* v = std::getenv("IBLLM_CRASH_SET");
  std::string out;
  std::istringstream in(v != nullptr ? v : "");
  for (std::string tok; in >> tok;) {
    const bool plain = tok.find('=') != std::string::npos &&
                       tok.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                             "0123456789_.=-") == std::string::npos;
    if (!plain)
      throw std::invalid_argument("IBLLM_CRASH_SET: '" + tok +
                                  "' is not KEY=VALUE made of letters, digits and _ . = -");
    out += " --set " + tok;
  }
  return out;
}

std::string train_args(const fs::path& out, int ranks) {
  return "train configs/tiny_pretrain.yaml --set run.output_dir=" + out.string() +
         " --set trainer.max_steps=" + std::to_string(kSteps) +
         " --set data.batch_size=" + std::to_string(8 / ranks) +
         " --set checkpoint.every_steps=3 --set checkpoint.keep_last=2"
         " --set trainer.eval_every=4 --set trainer.eval_max_batches=2 --set trainer.log_every=1"
         " --set schedule.warmup_steps=2 --set trainer.progress_bar=false --set run.log_level=warn"
         " --set run.threads=1 --set dist.timeout_s=" +
         std::to_string(kDistTimeoutS) + extra_overrides();
}

std::string launcher(int ranks) {
  return ranks > 1 ? "launch/local.sh " + std::to_string(ranks) + " "
                   : "'" + cli_path().string() + "' ";
}

std::string join_steps(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

struct Outcome {
  int code = -1;
  std::string log;
  int64_t end_ms = 0;  // wall clock when the process (the launcher) was reaped
};

// Runs `command` (launcher + args) with the moment armed; a timer moment kills from here.
Outcome run_with(const std::string& command, const Moment* m, const fs::path& log) {
  std::string cmd = command;
  if (m != nullptr && m->point != "timer")
    cmd = "env IBLLM_TEST_KILL_AT=" + m->kill_at() + " " + cmd;
  const int pid = start_shell(cmd, log.string());
  if (m != nullptr && m->point == "timer") {
    std::this_thread::sleep_for(std::chrono::milliseconds(m->n));
    ::kill(pid, SIGKILL);  // start_shell execs, so this is ibllm itself (or it already exited)
  }
  Outcome o;
  o.code = wait_cli(pid);
  o.end_ms = unix_ms_now();
  o.log = read_text(log);
  return o;
}

// Where the first process after a kill started: its resume record, else its first train step - 1,
// else its summary; nullopt when it died before showing it (the next process then tells).
std::optional<int64_t> started_at(const std::vector<nlohmann::json>& fresh, const Outcome& o) {
  for (const auto& r : fresh) {
    const std::string kind = r.value("kind", "");
    if (kind == "resume") return r.at("step").get<int64_t>();
    if (kind == "train") return r.at("step").get<int64_t>() - 1;
  }
  if (o.code == 0) {
    try {
      return nlohmann::json::parse(last_line(o.log)).at("resumed_from").get<int64_t>();
    } catch (const std::exception&) {
    }
  }
  return std::nullopt;
}

std::vector<nlohmann::json> metrics_of(const fs::path& run_dir) {
  std::error_code ec;
  if (!fs::exists(run_dir / "metrics.jsonl", ec)) return {};
  return ibllm::core::read_metrics((run_dir / "metrics.jsonl").string());
}

struct Tally {
  int kills = 0, clean = 0, corrupt = 0, episodes = 0, bitwise_ok = 0;
  std::vector<std::string> problems;
};

// A kill waiting for the next process to show where it resumed.
struct PendingKill {
  std::string line;
  int64_t expected = 0;
  bool ok = true;
};

class Campaign {
 public:
  Campaign(fs::path root, int ranks, uint64_t seed, int kills)
      : root_(std::move(root)), ranks_(ranks), seed_(seed), kills_(kills) {}

  Tally run() {
    prepare_reference();
    new_episode();
    for (int index = 0; tally_.kills < kills_ && index < 4 * kills_ + 8; ++index) {
      const int64_t resume = audit_checkpoints(run_dir_).resume_step();
      const Moment m = draw_moment(seed_, index, resume, shape_, ranks_);
      if (m.is_export()) {
        export_kill(m);
        continue;
      }
      const bool completed = train_once(&m, resume);
      if (completed || episode_kills_ == kKillsPerEpisode) finish_episode(completed);
    }
    if (episode_kills_ > 0 || !pending_.empty()) finish_episode(false);
    return tally_;
  }

 private:
  void prepare_reference() {
    ref_ = root_ / "reference" / "tiny_pretrain";
    const auto t0 = std::chrono::steady_clock::now();
    auto r = run_shell(launcher(ranks_) + train_args(root_ / "reference", ranks_));
    INFO(r.output);
    REQUIRE(r.code == 0);
    shape_.wall_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    shape_.total_steps = kSteps;
    shape_.every_steps = 3;
    shape_.eval_every = 4;
    shape_.eval_batches = 2;
    const fs::path last = ref_ / "checkpoints" / ("step_" + std::to_string(kSteps));
    shape_.tensors_per_save = 0;
    for (const char* f : {"model.safetensors", "optimizer.safetensors"})
      shape_.tensors_per_save +=
          static_cast<int64_t>(ibllm::io::SafetensorsFile((last / f).string()).names().size());
    if (ranks_ == 1) {
      export_cmd_ = launcher(1) + "export " + last.string() + " --merged --out ";
      auto e = run_shell(export_cmd_ + (root_ / "reference_export").string());
      INFO(e.output);
      REQUIRE(e.code == 0);
      const auto j = nlohmann::json::parse(last_line(e.output));
      shape_.delta_tensors = j.at("delta_tensors").get<int64_t>();
      shape_.export_tensors = shape_.delta_tensors + j.at("merged_tensors").get<int64_t>();
      ref_export_ = export_files(root_ / "reference_export");
      REQUIRE(ref_export_.size() == 4);
    }
  }

  void new_episode() {
    ++episode_;
    episode_kills_ = 0;
    run_dir_ = root_ / ("episode_" + std::to_string(episode_)) / "tiny_pretrain";
    command_ = launcher(ranks_) + train_args(run_dir_.parent_path(), ranks_);
  }

  // One training process; true when it ran to the end.
  bool train_once(const Moment* m, int64_t resume) {
    const size_t before = metrics_of(run_dir_).size();
    fs::create_directories(run_dir_.parent_path());
    const fs::path log =
        run_dir_.parent_path() / ("process_" + std::to_string(++process_) + ".log");
    const Outcome o = run_with(command_, m, log);
    const auto all = metrics_of(run_dir_);
    const std::vector<nlohmann::json> fresh(
        all.begin() + static_cast<std::ptrdiff_t>(std::min(before, all.size())), all.end());
    settle_pending(fresh, o);
    if (o.code == 0) {
      if (m != nullptr)
        std::cout << "  (moment " << m->describe() << " not reached from step " << resume
                  << ": the run completed)\n";
      return true;
    }
    if (m == nullptr) {
      problem("episode " + std::to_string(episode_) + ": the unarmed run failed (exit " +
              std::to_string(o.code) + "):\n" + o.log);
      return true;
    }
    ++tally_.kills;
    ++episode_kills_;
    const CheckpointAudit a = audit_checkpoints(run_dir_);
    PendingKill k;
    k.expected = a.resume_step();
    std::ostringstream line;
    line << "kill " << tally_.kills << "/" << kills_ << " seed=" << m->seed
         << " moment=" << m->describe() << " reached=step "
         << std::max(resume, last_logged_step(run_dir_))
         << " checkpoints=" << join_steps(a.complete) << " tmp=" << a.tmp.size()
         << " resume_step=" << k.expected;
    const bool killed = ranks_ > 1 ? o.code != 0 : o.code == 128 + SIGKILL;
    const bool at_point =
        m->point == "timer" || o.log.find("SIGKILL at " + m->point + ":") != std::string::npos;
    if (!killed || !at_point) {
      k.ok = false;
      line << " [exit " << o.code << (at_point ? "" : ", not at the kill point") << "]";
      problem("process " + std::to_string(process_) + " did not die at " + m->describe() + ":\n" +
              o.log);
    }
    for (const auto& c : a.corrupt) {
      ++tally_.corrupt;
      k.ok = false;
      line << " CORRUPT " << c;
      problem("after " + m->describe() + ": " + c);
    }
    if (ranks_ > 1) check_peers(*m, o, line, k);
    k.line = line.str();
    pending_.push_back(k);
    return false;
  }

  // 2 ranks: the launcher (hence every surviving rank) ended within dist.timeout_s of the kill,
  // and a surviving rank named the dead one.
  void check_peers(const Moment& m, const Outcome& o, std::ostringstream& line, PendingKill& k) {
    const auto t = kill_time_ms(o.log);
    const int64_t took = t ? o.end_ms - *t : -1;
    line << " others_exited_after=" << (t ? std::to_string(took) + "ms" : std::string("?"));
    if (!t || took > kDistTimeoutS * 1000) {
      k.ok = false;
      problem("the other ranks took " + std::to_string(took) + " ms (dist.timeout_s " +
              std::to_string(kDistTimeoutS) + "):\n" + o.log);
    }
    const int survivor = 1 - m.rank;
    const std::string named = "[rank " + std::to_string(survivor) + "] ";
    const std::string dead = "rank " + std::to_string(m.rank) + " (pid ";
    bool found = false;
    std::istringstream in(o.log);
    for (std::string l; std::getline(in, l);)
      found = found || (l.rfind(named, 0) == 0 && l.find(dead) != std::string::npos &&
                        l.find("has exited") != std::string::npos);
    line << " survivor_named_dead_rank=" << (found ? "yes" : "no");
    if (!found) {
      k.ok = false;
      problem("no surviving rank named rank " + std::to_string(m.rank) + ":\n" + o.log);
    }
  }

  // A process that dies before it shows where it started (a timer during start-up) has written
  // nothing a save needs, so the kills before it are settled by the next process that shows it.
  void settle_pending(const std::vector<nlohmann::json>& fresh, const Outcome& o) {
    if (pending_.empty()) return;
    const auto at = started_at(fresh, o);
    if (!at) return;
    for (const PendingKill& k : pending_) {
      const bool right = *at == k.expected;
      if (!right)
        problem("resumed at step " + std::to_string(*at) + ", expected " +
                std::to_string(k.expected));
      const bool clean = k.ok && right;
      tally_.clean += clean;
      std::cout << k.line << " resumed_at=" << *at << " result=" << (clean ? "clean" : "FAILED")
                << "\n";
    }
    pending_.clear();
  }

  void finish_episode(bool completed) {
    if (!completed) train_once(nullptr, audit_checkpoints(run_dir_).resume_step());
    for (const PendingKill& k : pending_) {  // a completed run always shows where it started
      problem("the resume point after this kill was never seen: " + k.line);
      std::cout << k.line << " result=FAILED (resume not seen)\n";
    }
    pending_.clear();
    const auto diffs = bitwise_differences(ref_, run_dir_, kSteps);
    ++tally_.episodes;
    tally_.bitwise_ok += diffs.empty();
    std::cout << "episode " << episode_ << ": " << episode_kills_ << " kills, final run bitwise "
              << (diffs.empty() ? "identical" : "DIFFERENT") << " to the uninterrupted run\n";
    for (size_t i = 0; i < diffs.size() && i < 20; ++i) {
      std::cout << "  " << diffs[i] << "\n";
      problem("episode " + std::to_string(episode_) + ": " + diffs[i]);
    }
    new_episode();
  }

  // `ibllm export` killed mid-write: every file under its final name must be the complete file
  // (byte-identical to the uninterrupted export); the rerun must produce exactly that export.
  void export_kill(const Moment& m) {
    const fs::path out = root_ / "exports" / ("kill_" + std::to_string(tally_.kills + 1));
    fs::create_directories(out.parent_path());
    const Outcome o = run_with(export_cmd_ + out.string(), &m, out.string() + ".log");
    if (o.code == 0) {
      std::cout << "  (moment " << m.describe() << " not reached: the export completed)\n";
      return;
    }
    ++tally_.kills;
    std::ostringstream line;
    bool ok =
        o.code == 128 + SIGKILL && o.log.find("SIGKILL at " + m.point + ":") != std::string::npos;
    if (!ok) problem("export did not die at " + m.describe() + ":\n" + o.log);
    const auto left = export_files(out);
    std::string names;
    for (const auto& [name, bytes] : left) {
      names += (names.empty() ? "" : ",") + name;
      const auto it = ref_export_.find(name);
      if (it == ref_export_.end() || it->second != bytes) {
        ok = false;
        ++tally_.corrupt;
        problem("export killed at " + m.describe() + " left " + name +
                " under its final name, "
                "but it is not the complete file");
      }
    }
    auto again = run_shell(export_cmd_ + out.string());
    const bool same = again.code == 0 && export_files(out) == ref_export_;
    if (!same) problem("the export rerun after " + m.describe() + " differs:\n" + again.output);
    ok = ok && same;
    tally_.clean += ok;
    std::cout << "kill " << tally_.kills << "/" << kills_ << " seed=" << m.seed << " moment=export "
              << m.describe() << " reached=files {" << names
              << "} resume=rerun export result=" << (ok ? "clean" : "FAILED") << "\n";
  }

  void problem(const std::string& p) { tally_.problems.push_back(p); }

  fs::path root_;
  int ranks_;
  uint64_t seed_;
  int kills_;
  RunShape shape_;
  fs::path ref_, run_dir_;
  std::string command_, export_cmd_;
  std::map<std::string, std::string> ref_export_;
  int episode_ = 0, episode_kills_ = 0, process_ = 0;
  std::vector<PendingKill> pending_;
  Tally tally_;
};

void run_campaign(const std::string& name, int ranks, int kills) {
  const uint64_t seed = static_cast<uint64_t>(env_int("IBLLM_CRASH_SEED", 1));
  const auto t0 = std::chrono::steady_clock::now();
  const std::string extra = extra_overrides();
  std::cout << "crash_resume: " << ranks << " rank(s), seed " << seed << ", " << kills
            << " kills" << (extra.empty() ? "" : ", extra:" + extra) << "\n";
  Campaign c(scratch_dir(name), ranks, seed, kills);
  const Tally t = c.run();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const bool bitwise = t.episodes > 0 && t.bitwise_ok == t.episodes;
  std::cout << "crash_resume: " << t.kills << " kills -> " << t.clean << " clean resumes, "
            << t.corrupt << " corrupt checkpoints, bitwise: " << (bitwise ? "yes" : "no") << " ("
            << ranks << " rank(s), " << t.episodes << " runs compared, " << static_cast<int>(wall)
            << " s)\n";
  // Printed, not UNSCOPED_INFO: that attaches only to the next assertion, which usually passes.
  for (const auto& p : t.problems) std::cout << "PROBLEM: " << p << "\n";
  CHECK(t.kills == kills);
  CHECK(t.clean == t.kills);
  CHECK(t.corrupt == 0);
  CHECK(bitwise);
  CHECK(t.problems.empty());
}

}  // namespace

TEST_CASE("crash-resume: seeded SIGKILLs of the tiny pretrain resume bitwise", "[crash_resume]") {
  run_campaign("crash_resume", 1, static_cast<int>(env_int("IBLLM_CRASH_KILLS", 5)));
}

TEST_CASE("crash-resume: one of 2 ranks SIGKILLed, the other names it, the relaunch is bitwise",
          "[crash_resume][ddp]") {
  run_campaign("crash_resume_ddp", 2, static_cast<int>(env_int("IBLLM_CRASH_KILLS_2RANK", 1)));
}
