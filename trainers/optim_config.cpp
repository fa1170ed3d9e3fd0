// OptimConfig parsing and LR scaling (see optim_config.h).
#include "trainers/optim_config.h"

namespace ibllm::train {

OptimConfig parse_optim_config(config::Section s) {
  OptimConfig c;
  s.choice("kind", c.kind, {"adamw"});
  s.field("lr", c.lr, config::at_least(0));
  s.field("blr", c.blr, config::at_least(0));
  s.field("weight_decay", c.weight_decay, config::at_least(0));
  s.field("beta1", c.beta1, config::Bounds{0.0, 1.0, false, true});
  s.field("beta2", c.beta2, config::Bounds{0.0, 1.0, false, true});
  s.field("eps", c.eps, config::positive());
  s.field("clip_grad_norm", c.clip_grad_norm, config::at_least(0));
  s.field("foreach", c.foreach);
  if (c.lr == 0.0 && c.blr == 0.0) s.fail("blr", "lr and blr are both 0: nothing would train");
  return c;
}

double effective_lr(const OptimConfig& c, int64_t effective_batch) {
  return c.lr > 0.0 ? c.lr : c.blr * static_cast<double>(effective_batch) / 256.0;
}

}  // namespace ibllm::train
