// LR schedules are pure functions of the step: values at the boundaries (start, end of warm-up,
// middle of the cosine, end), the reference blr scaling, and registry errors for unknown kinds.
#include "tests/support/catch.h"

#include <cmath>

#include "src/core/error.h"
#include "trainers/lr_schedule.h"
#include "trainers/optim_config.h"

using namespace ibllm::train;

TEST_CASE("lr_schedule: warmup_cosine matches the reference formula at boundaries", "[schedule]") {
  ScheduleConfig c;
  c.warmup_steps = 10;
  c.min_lr = 1e-5;
  auto lr = make_schedule(c, 1e-3, 110);
  CHECK(lr(0) == 0.0);
  CHECK(lr(5) == Approx(5e-4).epsilon(1e-12));
  CHECK(lr(10) == Approx(1e-3).epsilon(1e-12));                           // peak right after warm-up
  CHECK(lr(60) == Approx(1e-5 + (1e-3 - 1e-5) * 0.5).epsilon(1e-12));     // half-way: cos = 0
  CHECK(lr(110) == Approx(1e-5).epsilon(1e-12));                          // end: min_lr
  CHECK(lr(500) == Approx(1e-5).epsilon(1e-12));                          // clamped past the end
  for (int s = 11; s < 110; ++s) CHECK(lr(s) <= lr(s - 1));              // monotone decay
}

TEST_CASE("lr_schedule: other kinds and the warm-up-too-long error", "[schedule]") {
  ScheduleConfig c;
  c.kind = "constant";
  c.warmup_steps = 4;
  auto constant = make_schedule(c, 2.0, 10);
  CHECK(constant(2) == Approx(1.0));
  CHECK(constant(9) == Approx(2.0));
  c.kind = "warmup_linear";
  auto lin = make_schedule(c, 2.0, 10);
  CHECK(lin(7) == Approx(1.0));
  CHECK(lin(10) == Approx(0.0));
  c.warmup_steps = 11;
  CHECK_THROWS_AS(make_schedule(c, 1.0, 10), ibllm::ConfigError);
  c.kind = "cosine";
  c.warmup_steps = 0;
  CHECK_THROWS_AS(make_schedule(c, 1.0, 10), ibllm::ConfigError);
}

TEST_CASE("optim: lr = blr * effective_batch / 256 unless absolute", "[schedule]") {
  OptimConfig o;
  o.blr = 1e-4;
  CHECK(effective_lr(o, 32) == Approx(1.25e-5));  // reference pretrain: 8 GPUs x 4
  o.blr = 1e-3;
  CHECK(effective_lr(o, 32) == Approx(1.25e-4));  // reference finetune
  o.lr = 3e-4;
  CHECK(effective_lr(o, 32) == Approx(3e-4));
}

TEST_CASE("lr_schedule: warmup_epochs follows the reference's epoch-fraction formula",
          "[schedule]") {
  // Reference (util/lr_sched.py): e = it / iters_per_epoch + epoch; lr = base * e / warmup_epochs
  // while e < warmup_epochs, then min + (base - min) * 0.5 * (1 + cos(pi * (e - w) / (E - w))).
  ScheduleConfig c;
  c.warmup_epochs = 1.5;
  const double spe = 7, base = 1e-3;
  const int64_t epochs = 4, total = epochs * 7;
  auto lr = make_schedule(c, base, total, spe);
  for (int64_t it = 0; it <= total; ++it) {
    const double e = static_cast<double>(it) / spe;
    const double want = e < 1.5 ? base * e / 1.5
                                : base * 0.5 * (1.0 + std::cos(M_PI * (e - 1.5) / (epochs - 1.5)));
    INFO("step " << it);
    CHECK(lr(it) == Approx(want).epsilon(1e-12).margin(1e-18));
  }
  CHECK_THROWS_AS(make_schedule(c, base, total), ibllm::ConfigError);  // needs the epoch length
}
