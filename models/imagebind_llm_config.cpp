// parse_model_init_config: `model.init` from YAML. Kept apart from the weight assembly
// (imagebind_llm_weights.cpp) so that parsing a run config links no model code (the config fuzz
// harness, tests/fuzz/, builds only the parsers).
#include "models/imagebind_llm_config.h"

#include "src/config/section.h"

namespace ibllm::models {

ModelInitConfig parse_model_init_config(config::Section s) {
  ModelInitConfig c;
  s.field("imagebind", c.imagebind);
  s.field("llama", c.llama);
  s.field("checkpoint", c.checkpoint);
  s.field("allow_missing", c.allow_missing);
  s.field("random_base", c.random_base);
  return c;
}

}  // namespace ibllm::models
