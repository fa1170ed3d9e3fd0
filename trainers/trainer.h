// `ibllm train`: the config-driven training loop. Builds everything from the RunConfig, prints the
// plan (parameter counts, trainable set, effective batch, scaled LR, steps), resumes from the
// newest complete checkpoint (checkpoint.resume), runs optimizer steps of grad_accum micro-batches
// with the schedule as a pure function of the step, logs every log_every steps to the console,
// metrics.jsonl and TensorBoard, evaluates every eval_every steps and at the end, and checkpoints
// every checkpoint.every_steps, at the end and on SIGTERM/SIGINT. Run directory:
// <run.output_dir>/<run.name>/ {config.resolved.yaml, metrics.jsonl, tb/, checkpoints/}.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "trainers/evaluator.h"
#include "trainers/run_setup.h"

namespace ibllm::train {

struct TrainResult {
  std::string run_dir;
  int64_t steps = 0;          // optimizer steps completed (total, including resumed ones)
  int64_t resumed_from = 0;   // step of the checkpoint resumed from (0: fresh start)
  double last_loss = 0.0;
  std::optional<EvalResult> eval;  // final evaluation
  std::string checkpoint;          // last checkpoint written
  int stop_signal = 0;             // SIGTERM/SIGINT that ended the run early (0: completed)
  int64_t failed_saves = 0;        // periodic saves that could not be written (on_write_error: continue)
};

// `run` comes from setup_run with the communicator and without a checkpoint (a run resumes from its
// own checkpoint directory, checkpoint.resume). Reads top to bottom as: set up (run directory, data,
// optimizer, plan), resume, loop, finish (final eval and checkpoint).
TrainResult train(RunSetup& run);

}  // namespace ibllm::train
