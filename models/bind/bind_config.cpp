// YAML sections `model.bind` and `model.mixing`.
#include "models/bind/bind_config.h"

#include "src/config/section.h"

namespace ibllm::models {

BindConfig parse_bind_config(config::Section s) {
  BindConfig c;
  s.field("in_dim", c.in_dim, config::at_least(0));
  s.field("dim", c.dim, config::at_least(0));
  s.field("hidden_dim", c.hidden_dim, config::at_least(0));
  s.field("n_blocks", c.n_blocks, config::at_least(0));
  s.field("legacy", c.legacy);
  s.field("norm_eps", c.norm_eps, config::positive());
  return c;
}

MixingConfig parse_mixing_config(config::Section s) {
  MixingConfig c;
  s.field("weight_eps", c.weight_eps, config::at_least(0.0));
  s.field("renormalize", c.renormalize);
  return c;
}

}  // namespace ibllm::models
