// Learning-rate schedules as pure functions of the optimizer step (C++ schedulers keep no state
// to serialise; a function of the step cannot drift across resume). `kind:` picks one from the
// schedule registry, filled in register_schedules().
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "src/config/section.h"
#include "src/core/registry.h"

namespace ibllm::train {

struct ScheduleConfig {
  std::string kind = "warmup_cosine";  // see schedule_registry().kinds()
  int64_t warmup_steps = 0;            // linear ramp from 0 over these optimizer steps
  double warmup_epochs = 0.0;  // reference semantics: warm-up in (fractional) epochs instead
  double min_lr = 0.0;                 // floor of the cosine / linear decay
};

ScheduleConfig parse_schedule_config(config::Section s);

// lr(step) for step in [0, total_steps]; base_lr is the (already scaled) peak learning rate.
using LrSchedule = std::function<double(int64_t step)>;
// `warmup`: the warm-up length in optimizer steps (fractional under warmup_epochs).
using ScheduleFactory = std::function<LrSchedule(const ScheduleConfig&, double base_lr,
                                                 int64_t total_steps, double warmup)>;

const core::Registry<ScheduleFactory>& schedule_registry();
// steps_per_epoch: optimizer steps per epoch (needed only for warmup_epochs).
LrSchedule make_schedule(const ScheduleConfig& c, double base_lr, int64_t total_steps,
                         double steps_per_epoch = 0.0);

}  // namespace ibllm::train
