// Schedules (see lr_schedule.h). warmup_cosine is the reference's per-iteration rule
// (util/lr_sched.py): linear warm-up from 0, then half-cycle cosine from base_lr to min_lr.
#include "trainers/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace ibllm::train {

namespace {

constexpr double kPi = 3.14159265358979323846;

double warmup(int64_t step, int64_t warmup_steps, double base_lr) {
  return base_lr * static_cast<double>(step) / static_cast<double>(warmup_steps);
}

void register_schedules(core::Registry<ScheduleFactory>& r) {
  r.add("warmup_cosine",
        [](const ScheduleConfig& c, double base, int64_t total) -> LrSchedule {
          return [c, base, total](int64_t step) {
            if (step < c.warmup_steps) return warmup(step, c.warmup_steps, base);
            int64_t span = std::max<int64_t>(total - c.warmup_steps, 1);
            double t = std::min(1.0, static_cast<double>(step - c.warmup_steps) / span);
            return c.min_lr + (base - c.min_lr) * 0.5 * (1.0 + std::cos(kPi * t));
          };
        },
        "linear warm-up, then half-cycle cosine to min_lr (the reference schedule)");
  r.add("warmup_linear",
        [](const ScheduleConfig& c, double base, int64_t total) -> LrSchedule {
          return [c, base, total](int64_t step) {
            if (step < c.warmup_steps) return warmup(step, c.warmup_steps, base);
            int64_t span = std::max<int64_t>(total - c.warmup_steps, 1);
            double t = std::min(1.0, static_cast<double>(step - c.warmup_steps) / span);
            return base + (c.min_lr - base) * t;
          };
        },
        "linear warm-up, then linear decay to min_lr");
  r.add("constant",
        [](const ScheduleConfig& c, double base, int64_t) -> LrSchedule {
          return [c, base](int64_t step) {
            return step < c.warmup_steps ? warmup(step, c.warmup_steps, base) : base;
          };
        },
        "linear warm-up, then constant");
}

}  // namespace

const core::Registry<ScheduleFactory>& schedule_registry() {
  static const core::Registry<ScheduleFactory> r = [] {
    core::Registry<ScheduleFactory> reg("schedule");
    register_schedules(reg);
    return reg;
  }();
  return r;
}

ScheduleConfig parse_schedule_config(config::Section s) {
  ScheduleConfig c;
  s.choice("kind", c.kind, schedule_registry().kinds());
  s.field("warmup_steps", c.warmup_steps, config::at_least(0));
  s.field("min_lr", c.min_lr, config::at_least(0));
  return c;
}

LrSchedule make_schedule(const ScheduleConfig& c, double base_lr, int64_t total_steps) {
  if (c.warmup_steps > total_steps)
    throw ConfigError("schedule.warmup_steps (" + std::to_string(c.warmup_steps) +
                      ") exceeds the total number of optimizer steps (" +
                      std::to_string(total_steps) + ")");
  return schedule_registry().get(c.kind)(c, base_lr, total_steps);
}

}  // namespace ibllm::train
