// TrainerConfig (`trainer:`) — loop length, accumulation, loss normalisation, precision, logging,
// evaluation cadence and the non-finite guard — and BenchConfig (`bench:`) for `ibllm bench`.
// Torch-free: check-config includes it without the torch headers.
#pragma once

#include <cstdint>
#include <string>

#include "src/core/choice_table.h"

namespace ibllm::config {
class Section;
}

namespace ibllm::train {

// trainer.loss_norm. kTokens: the loss is the sum over all valid label tokens of the step / their
// count (exact across micro-batches and ranks); kReference: mean of per-micro-batch means
// (official code).
enum class LossNorm { kTokens, kReference };
const core::ChoiceTable<LossNorm>& loss_norm_names();  // tokens, reference

// trainer.precision: the frozen towers' dtype. kAuto: bf16 on CUDA, fp32 on CPU; the others force
// it. Trainable parameters are always fp32 master weights.
enum class FrozenPrecision { kAuto, kFp32, kBf16, kFp16 };
const core::ChoiceTable<FrozenPrecision>& frozen_precision_names();  // auto, fp32, bf16, fp16

// run.device (RunSection, trainers/run_config.h): kAuto = CUDA when available, else the CPU.
enum class RunDevice { kAuto, kCpu, kCuda };
const core::ChoiceTable<RunDevice>& run_device_names();  // auto, cpu, cuda

struct TrainerConfig {
  int64_t epochs = 1;      // passes over data.sources (sub-epochs when data.split_epoch > 1)
  int64_t max_steps = 0;   // optimizer steps; 0: epochs × steps per epoch; >0: stop there
  int64_t grad_accum = 1;  // micro-batches per optimizer step
  LossNorm loss_norm = LossNorm::kTokens;
  FrozenPrecision precision = FrozenPrecision::kAuto;
  int64_t log_every = 10;   // optimizer steps between log lines / metrics records
  int64_t eval_every = 0;   // optimizer steps between val evaluations (0: only at the end)
  int64_t eval_max_batches = 0;  // 0: the whole validation set
  int64_t max_bad_steps = 5;     // consecutive non-finite steps (skipped) before aborting
  bool tensorboard = true;       // events.out.tfevents.* in the run directory
  bool progress_bar = true;      // only when stdout is a terminal
};

struct BenchConfig {
  int64_t warmup_steps = 2;  // untimed
  int64_t steps = 5;         // timed optimizer steps
  int64_t seq_len = 0;       // tokens per sample (0: data.max_words)
  bool grad_sync = false;    // one process: time the step through a real process group anyway
};

TrainerConfig parse_trainer_config(config::Section s);
BenchConfig parse_bench_config(config::Section s);

}  // namespace ibllm::train
