// Schedules (see lr_schedule.h). warmup_cosine is the reference's per-iteration rule
// (util/lr_sched.py): linear warm-up from 0, then half-cycle cosine from base_lr to min_lr.
#include "trainers/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace ibllm::train {

namespace {

constexpr double kPi = 3.14159265358979323846;

double warmup(int64_t step, double warmup_steps, double base_lr) {
  return base_lr * static_cast<double>(step) / warmup_steps;
}

// Fraction of the decay phase done at `step` (warm-up may be fractional: epoch semantics).
double decay_t(int64_t step, double w, int64_t total) {
  const double span = std::max(static_cast<double>(total) - w, 1.0);
  return std::min(1.0, (static_cast<double>(step) - w) / span);
}

void register_schedules(core::Registry<ScheduleFactory>& r) {
  r.add("warmup_cosine",
        [](const ScheduleConfig& c, double base, int64_t total, double w) -> LrSchedule {
          return [c, base, total, w](int64_t step) {
            if (step < w) return warmup(step, w, base);
            double t = decay_t(step, w, total);
            return c.min_lr + (base - c.min_lr) * 0.5 * (1.0 + std::cos(kPi * t));
          };
        },
        "linear warm-up, then half-cycle cosine to min_lr (the reference schedule)");
  r.add("warmup_linear",
        [](const ScheduleConfig& c, double base, int64_t total, double w) -> LrSchedule {
          return [c, base, total, w](int64_t step) {
            if (step < w) return warmup(step, w, base);
            return base + (c.min_lr - base) * decay_t(step, w, total);
          };
        },
        "linear warm-up, then linear decay to min_lr");
  r.add("constant",
        [](const ScheduleConfig& c, double base, int64_t, double w) -> LrSchedule {
          return [c, base, w](int64_t step) {
            return step < w ? warmup(step, w, base) : base;
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
  s.field("warmup_epochs", c.warmup_epochs, config::at_least(0));
  if (c.warmup_steps > 0 && c.warmup_epochs > 0)
    s.fail("warmup_epochs", "set warmup_steps or warmup_epochs, not both");
  s.field("min_lr", c.min_lr, config::at_least(0));
  return c;
}

LrSchedule make_schedule(const ScheduleConfig& c, double base_lr, int64_t total_steps,
                         double steps_per_epoch) {
  double w = static_cast<double>(c.warmup_steps);
  if (c.warmup_epochs > 0) {
    if (steps_per_epoch <= 0)
      throw ConfigError("schedule.warmup_epochs needs the epoch length (use warmup_steps here)");
    w = c.warmup_epochs * steps_per_epoch;
  }
  if (w > static_cast<double>(total_steps))
    throw ConfigError("schedule warm-up (" + std::to_string(w) +
                      " steps) exceeds the total number of optimizer steps (" +
                      std::to_string(total_steps) + ")",
                      "lower schedule.warmup_steps / warmup_epochs or train longer");
  return schedule_registry().get(c.kind)(c, base_lr, total_steps, w);
}

}  // namespace ibllm::train
