// The pieces of the crash-resume campaign (crash_resume_test.cpp): seeded kill moments, the audit
// of a run directory after a kill (every step_<N>/ must pass the project's own full validation) and
// the bitwise comparison of a resumed run with an uninterrupted one. Moments are kill points of
// IBLLM_TEST_KILL_AT (src/core/kill_point.h) or a timer; their counts are drawn from what the next
// process can still reach, so most draws kill.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ibllm::test {

// What the next training process can still reach, from the step it will resume at.
struct RunShape {
  int64_t total_steps = 0;
  int64_t every_steps = 0;
  int64_t eval_every = 0;
  int64_t eval_batches = 0;      // trainer.eval_max_batches
  int64_t tensors_per_save = 0;  // model + optimizer tensors of one checkpoint
  int64_t export_tensors = 0;    // delta + merged tensors of one export
  int64_t delta_tensors = 0;
  double wall_ms = 0;                       // an uninterrupted run, start to exit
  int64_t saves_after(int64_t step) const;  // periodic saves in (step, total) plus the final one
  int64_t evals_after(int64_t step) const;  // likewise for evaluations
};

struct Moment {
  std::string group;  // step, files, publish, eval, export, mid-file, timer, prune
  std::string point;  // a kill point, or "timer"
  int64_t n = 0;      // n-th pass of the point (timer: milliseconds after the start)
  int rank = 0;       // multi-rank runs: the rank that dies
  uint64_t seed = 0;  // this draw's own seed
  bool is_export() const { return group == "export"; }
  std::string kill_at() const;  // the IBLLM_TEST_KILL_AT value ("" for a timer)
  std::string describe() const;
};

// Kill `index` of a campaign: its group cycles through the list (so the first kills already cover
// a step, the files of a save, its publication, an eval and an export), its point and count come
// from a generator seeded by (campaign seed, index). `ranks` > 1: no timer or export moments, and
// checkpoint points on rank 0, the only writer.
Moment draw_moment(uint64_t campaign_seed, int index, int64_t resume_step, const RunShape& shape,
                   int ranks);

// A run directory after a kill.
struct CheckpointAudit {
  std::vector<int64_t> complete;     // steps of step_<N>/ that pass inspect_checkpoint(kFull),
                                     // load_checkpoint and parse_training_state
  std::vector<std::string> corrupt;  // "<dir>: <reason>" for every step_<N>/ that does not
  std::vector<std::string> tmp;      // leftover *.tmp entries (allowed)
  std::string latest;                // what `latest` names ("" if absent)
  int64_t resume_step() const { return complete.empty() ? 0 : complete.back(); }
};
CheckpointAudit audit_checkpoints(const std::filesystem::path& run_dir);

// Records of metrics.jsonl by (kind, step), the last one of each winning (a resumed run re-logs).
using MetricsByStep = std::map<std::pair<std::string, int64_t>, nlohmann::json>;
MetricsByStep metrics_by_step(const std::filesystem::path& run_dir);
// The resume records, in order (one per process that resumed).
std::vector<int64_t> resume_records(const std::filesystem::path& run_dir);
// Highest train step logged so far (0 if none).
int64_t last_logged_step(const std::filesystem::path& run_dir);

// Every difference between two finished run directories: the final checkpoint's model and
// optimizer files byte for byte (so every tensor bitwise) and its state.json, and every train and
// eval record of metrics.jsonl on all fields except the timings. Empty: bitwise identical.
std::vector<std::string> bitwise_differences(const std::filesystem::path& reference,
                                             const std::filesystem::path& run, int64_t final_step);

// Files of an export directory under their final names (no *.tmp) and their bytes.
std::map<std::string, std::string> export_files(const std::filesystem::path& dir);

// "IBLLM_TEST_KILL_AT: SIGKILL at ... unix_ms <t>)" in a log: t, or nullopt.
std::optional<int64_t> kill_time_ms(const std::string& log);
int64_t unix_ms_now();
std::string read_text(const std::filesystem::path& p);

}  // namespace ibllm::test
