// Per-interval training metrics: accumulates the steps between two log points and emits one console
// line (rank 0), one metrics.jsonl record and TensorBoard scalars. Loss over an interval is
// token-weighted (Σ loss·tokens / Σ tokens); throughput counts the B×T positions processed.
#pragma once

#include <chrono>
#include <functional>
#include <vector>
#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "src/core/metrics_writer.h"
#include "src/core/progress_bar.h"
#include "src/core/tensorboard_writer.h"
#include "trainers/train_step.h"

namespace ibllm::train {

struct StepLoggerOptions {
  std::string run_dir;
  int64_t total_steps = 0;
  bool tensorboard = true;
  bool progress_bar = true;
  double flops_per_token = 0.0;  // model FLOPs per processed token (0: MFU not reported)
  double peak_flops = 0.0;       // device peak FLOP/s (0: unknown)
  at::Device device = at::kCPU;
  bool writer = true;            // rank 0: console, metrics.jsonl, TensorBoard
  bool reference_loss = false;   // trainer.loss_norm reference: rank losses are averaged
  // Sums host values over ranks (collective; every rank calls emit()). Empty: one process.
  std::function<std::vector<double>(std::vector<double>)> sum_over_ranks;
  int64_t world_size = 1;
};

class StepLogger {
 public:
  explicit StepLogger(StepLoggerOptions o);
  // One optimizer step (wall time of the step including data wait, and the wait alone).
  void add(const StepStats& s, double step_seconds, double wait_seconds);
  // Emits the interval ending at `step` and resets it. Collective when sum_over_ranks is set.
  void emit(int64_t step, int64_t epoch, double lr, int64_t skipped_samples, int64_t bad_steps);
  // Any other record (eval results, events): console + metrics.jsonl + TensorBoard (numbers);
  // a no-op except on the writer rank.
  void record(const std::string& kind, int64_t step, const nlohmann::json& values);
  void finish();

  // The sums of the steps since the last emit (this rank's shares). A checkpoint keeps them, so a
  // run resumed in the middle of an interval logs its next record over the same steps as an
  // uninterrupted run, to the bit.
  nlohmann::json interval_state() const;
  // Throws CheckpointError naming `origin` when `j` is not what interval_state() writes.
  void restore_interval(const nlohmann::json& j, const std::string& origin);

 private:
  void reset_interval();

  StepLoggerOptions o_;
  std::unique_ptr<core::MetricsWriter> metrics_;
  std::unique_ptr<core::TensorBoardWriter> tb_;
  std::unique_ptr<core::ProgressBar> bar_;
  double loss_tokens_ = 0.0, tokens_ = 0.0, loss_plain_ = 0.0;
  int64_t steps_ = 0, samples_ = 0, seen_ = 0, finite_ = 0;
  double seconds_ = 0.0, wait_ = 0.0, grad_norm_ = 0.0;
  double total_seconds_ = 0.0;
  int64_t total_logged_steps_ = 0;
};

}  // namespace ibllm::train
