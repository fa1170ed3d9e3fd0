// YAML section `model.cache` (see visual_cache_config.h).
#include "models/cache/visual_cache_config.h"

#include "src/config/section.h"

namespace ibllm::models {

VisualCacheConfig parse_visual_cache_config(config::Section s) {
  VisualCacheConfig c;
  s.field("enabled", c.enabled);
  s.field("path", c.path);
  s.field("top_k", c.top_k, config::at_least(1));
  s.field("temperature", c.temperature, config::at_least(0.0));
  s.field("beta", c.beta, config::unit_interval());
  s.field("chunk_rows", c.chunk_rows, config::at_least(0));
  if (c.enabled && c.path.empty())
    s.fail("path",
           "model.cache.enabled is true but no index directory is given "
           "(build one with `ibllm build-cache`)");
  return c;
}

}  // namespace ibllm::models
