// YAML sections `trainer:` and `bench:`.
#include "trainers/trainer_config.h"

#include "src/config/section.h"

namespace ibllm::train {

const core::ChoiceTable<LossNorm>& loss_norm_names() {
  static const core::ChoiceTable<LossNorm> t = {{"tokens", LossNorm::kTokens},
                                                  {"reference", LossNorm::kReference}};
  return t;
}

const core::ChoiceTable<FrozenPrecision>& frozen_precision_names() {
  static const core::ChoiceTable<FrozenPrecision> t = {{"auto", FrozenPrecision::kAuto},
                                                         {"fp32", FrozenPrecision::kFp32},
                                                         {"bf16", FrozenPrecision::kBf16},
                                                         {"fp16", FrozenPrecision::kFp16}};
  return t;
}

const core::ChoiceTable<RunDevice>& run_device_names() {
  static const core::ChoiceTable<RunDevice> t = {
      {"auto", RunDevice::kAuto}, {"cpu", RunDevice::kCpu}, {"cuda", RunDevice::kCuda}};
  return t;
}

TrainerConfig parse_trainer_config(config::Section s) {
  TrainerConfig c;
  s.field("epochs", c.epochs, config::at_least(1));
  s.field("max_steps", c.max_steps, config::at_least(0));
  s.field("grad_accum", c.grad_accum, config::at_least(1));
  s.choice("loss_norm", c.loss_norm, loss_norm_names());
  s.choice("precision", c.precision, frozen_precision_names());
  s.field("log_every", c.log_every, config::at_least(1));
  s.field("eval_every", c.eval_every, config::at_least(0));
  s.field("eval_max_batches", c.eval_max_batches, config::at_least(0));
  s.field("max_bad_steps", c.max_bad_steps, config::at_least(1));
  s.field("tensorboard", c.tensorboard);
  s.field("progress_bar", c.progress_bar);
  return c;
}

BenchConfig parse_bench_config(config::Section s) {
  BenchConfig c;
  s.field("warmup_steps", c.warmup_steps, config::at_least(0));
  s.field("steps", c.steps, config::at_least(1));
  s.field("seq_len", c.seq_len, config::at_least(0));
  s.field("grad_sync", c.grad_sync);
  return c;
}

}  // namespace ibllm::train
