// Moments, audits and the bitwise comparison of the crash-resume campaign; see crash_campaign.h.
// Draws use a plain 64-bit Mersenne Twister and a modulo (not std::uniform_int_distribution,
// whose output differs between standard libraries), so a seed names the same moment everywhere.
#include "tests/reliability/crash_campaign.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <set>

#include "src/checkpoint/checkpoint_meta.h"
#include "src/checkpoint/checkpoint_store.h"
#include "src/checkpoint/training_state.h"
#include "src/core/metrics_writer.h"

namespace ibllm::test {

namespace fs = std::filesystem;

int64_t RunShape::saves_after(int64_t step) const {
  int64_t n = 1;  // the final save
  if (every_steps > 0)
    for (int64_t s = (step / every_steps + 1) * every_steps; s < total_steps; s += every_steps) ++n;
  return n;
}

int64_t RunShape::evals_after(int64_t step) const {
  int64_t n = 1;  // the final evaluation
  if (eval_every > 0)
    for (int64_t s = (step / eval_every + 1) * eval_every; s < total_steps; s += eval_every) ++n;
  return n;
}

std::string Moment::kill_at() const {
  if (point == "timer") return "";
  return point + ":" + std::to_string(n) + "@" + std::to_string(rank);
}

std::string Moment::describe() const {
  if (point == "timer") return "timer " + std::to_string(n) + " ms";
  return point + ":" + std::to_string(n) + (rank != 0 ? " on rank " + std::to_string(rank) : "");
}

namespace {

uint64_t mix(uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

Moment draw_moment(uint64_t campaign_seed, int index, int64_t resume_step, const RunShape& shape,
                   int ranks) {
  static const std::vector<std::string> single = {"step",   "files",    "publish", "eval",
                                                  "export", "mid-file", "timer",   "prune"};
  static const std::vector<std::string> multi = {"step", "files", "publish", "eval", "mid-file"};
  const auto& groups = ranks > 1 ? multi : single;
  Moment m;
  m.group = groups[static_cast<size_t>(index) % groups.size()];
  m.seed = mix(campaign_seed * 1000003ULL + static_cast<uint64_t>(index));
  std::mt19937_64 g(m.seed);
  auto upto = [&](int64_t k) {
    return 1 + static_cast<int64_t>(g() % static_cast<uint64_t>(std::max<int64_t>(k, 1)));
  };
  auto pick = [&](const std::vector<std::string>& v) { return v[g() % v.size()]; };
  const int64_t steps = shape.total_steps - resume_step;
  const int64_t saves = shape.saves_after(resume_step);
  if (m.group == "step") {
    m.point = pick({"step.forward", "step.backward", "step.update"});
    m.n = upto(steps);
    m.rank = static_cast<int>(g() % static_cast<uint64_t>(ranks));
  } else if (m.group == "files") {
    m.point = "checkpoint." + pick({"begin", "model.safetensors", "optimizer.safetensors",
                                    "state.json", "config.yaml"});
    m.n = upto(saves);
  } else if (m.group == "publish") {
    m.point = "checkpoint." + pick({"meta.json", "renamed", "latest"});
    m.n = upto(saves);
  } else if (m.group == "eval") {
    m.point = "eval.batch";
    m.n = upto(shape.evals_after(resume_step) * shape.eval_batches);
    m.rank = static_cast<int>(g() % static_cast<uint64_t>(ranks));
  } else if (m.group == "export") {
    m.point = pick({"export.delta.safetensors", "export.delta.pth", "export.merged.safetensors",
                    "export.manifest", "safetensors.tensor", "pth.tensor"});
    m.n = m.point == "safetensors.tensor" ? upto(shape.export_tensors)
          : m.point == "pth.tensor"       ? upto(shape.delta_tensors)
                                          : 1;
  } else if (m.group == "mid-file") {
    m.point = "safetensors.tensor";
    m.n = upto(saves * shape.tensors_per_save);
  } else if (m.group == "timer") {
    m.point = "timer";
    m.n = upto(static_cast<int64_t>(shape.wall_ms));
  } else {
    m.point = "checkpoint.pruning";
    m.n = upto(saves);
  }
  return m;
}

CheckpointAudit audit_checkpoints(const fs::path& run_dir) {
  CheckpointAudit a;
  const fs::path cps = run_dir / "checkpoints";
  std::error_code ec;
  if (!fs::is_directory(cps, ec)) return a;
  for (const auto& e : fs::directory_iterator(cps)) {
    const std::string name = e.path().filename().string();
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0) {
      a.tmp.push_back(name);
      continue;
    }
    const auto step = checkpoint::parse_step_dir_name(name);
    if (!step || !e.is_directory()) continue;
    const auto in = checkpoint::inspect_checkpoint(e.path(), checkpoint::Verify::kFull);
    if (!in.complete()) {
      a.corrupt.push_back(e.path().string() + ": " + in.reason);
      continue;
    }
    try {  // the resume path itself: verified load, then the typed state.json
      const auto ck = checkpoint::load_checkpoint(e.path());
      const auto st =
          checkpoint::parse_training_state(ck.state, (e.path() / "state.json").string());
      if (st.step != *step || ck.step != *step)
        throw std::runtime_error("state.json says step " + std::to_string(st.step));
      a.complete.push_back(*step);
    } catch (const std::exception& ex) {
      a.corrupt.push_back(e.path().string() + ": " + ex.what());
    }
  }
  std::sort(a.complete.begin(), a.complete.end());
  std::sort(a.tmp.begin(), a.tmp.end());
  if (fs::exists(cps / "latest", ec)) {
    a.latest = read_text(cps / "latest");
    while (!a.latest.empty() && a.latest.back() == '\n') a.latest.pop_back();
    const auto step = checkpoint::parse_step_dir_name(a.latest);
    if (!step || !std::binary_search(a.complete.begin(), a.complete.end(), *step))
      a.corrupt.push_back((cps / "latest").string() + ": names '" + a.latest +
                          "', which is not a complete checkpoint");
  }
  return a;
}

MetricsByStep metrics_by_step(const fs::path& run_dir) {
  MetricsByStep out;
  for (const auto& r : core::read_metrics((run_dir / "metrics.jsonl").string()))
    out[{r.value("kind", ""), r.value("step", int64_t{-1})}] = r;
  return out;
}

std::vector<int64_t> resume_records(const fs::path& run_dir) {
  std::vector<int64_t> out;
  std::error_code ec;
  if (!fs::exists(run_dir / "metrics.jsonl", ec)) return out;
  for (const auto& r : core::read_metrics((run_dir / "metrics.jsonl").string()))
    if (r.value("kind", "") == "resume") out.push_back(r.at("step").get<int64_t>());
  return out;
}

int64_t last_logged_step(const fs::path& run_dir) {
  int64_t last = 0;
  std::error_code ec;
  if (!fs::exists(run_dir / "metrics.jsonl", ec)) return 0;
  for (const auto& r : core::read_metrics((run_dir / "metrics.jsonl").string()))
    if (r.value("kind", "") == "train") last = std::max(last, r.at("step").get<int64_t>());
  return last;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<std::string> bitwise_differences(const fs::path& reference, const fs::path& run,
                                             int64_t final_step) {
  std::vector<std::string> diffs;
  const fs::path rel = fs::path("checkpoints") / ("step_" + std::to_string(final_step));
  for (const char* f : {"model.safetensors", "optimizer.safetensors"}) {
    std::error_code ec;
    if (!fs::exists(run / rel / f, ec)) {
      diffs.push_back((run / rel / f).string() + " is missing");
      continue;
    }
    if (read_text(reference / rel / f) != read_text(run / rel / f))
      diffs.push_back((rel / f).string() + " differs");
  }
  try {
    const auto a = nlohmann::json::parse(read_text(reference / rel / "state.json"));
    const auto b = nlohmann::json::parse(read_text(run / rel / "state.json"));
    for (auto it = a.begin(); it != a.end(); ++it)
      if (!b.contains(it.key()) || b.at(it.key()) != it.value())
        diffs.push_back((rel / "state.json").string() + ": '" + it.key() + "' differs");
  } catch (const std::exception& e) {
    diffs.push_back((rel / "state.json").string() + ": " + e.what());
  }
  // Wall-clock figures are not training state; everything else must match to the bit.
  static const std::set<std::string> timings = {
      "tokens_per_s", "samples_per_s", "step_ms", "data_wait_ms", "peak_mem_gib", "eta_s", "mfu"};
  const auto ma = metrics_by_step(reference), mb = metrics_by_step(run);
  for (const auto& [key, rec] : ma) {
    if (key.first != "train" && key.first != "eval") continue;
    const std::string where = key.first + " record of step " + std::to_string(key.second);
    const auto it = mb.find(key);
    if (it == mb.end()) {
      diffs.push_back(where + " is missing");
      continue;
    }
    for (auto f = rec.begin(); f != rec.end(); ++f) {
      if (timings.count(f.key())) continue;
      if (!it->second.contains(f.key()) || it->second.at(f.key()) != f.value())
        diffs.push_back(where + ": " + f.key() + " " + f.value().dump() + " vs " +
                        (it->second.contains(f.key()) ? it->second.at(f.key()).dump() : "absent"));
    }
  }
  for (const auto& [key, rec] : mb)
    if ((key.first == "train" || key.first == "eval") && !ma.count(key))
      diffs.push_back(key.first + " record of step " + std::to_string(key.second) +
                      " is not in the uninterrupted run");
  return diffs;
}

std::map<std::string, std::string> export_files(const fs::path& dir) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file() || (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0))
      continue;
    out[name] = read_text(e.path());
  }
  return out;
}

std::optional<int64_t> kill_time_ms(const std::string& log) {
  const std::string tag = "IBLLM_TEST_KILL_AT: SIGKILL at ";
  const auto at = log.find(tag);
  if (at == std::string::npos) return std::nullopt;
  const auto ms = log.find("unix_ms ", at);
  if (ms == std::string::npos) return std::nullopt;
  return std::stoll(log.substr(ms + 8));
}

int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace ibllm::test
