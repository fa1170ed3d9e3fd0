// Parses the `checkpoint:` section; see checkpoint_config.h.
#include "src/checkpoint/checkpoint_config.h"

namespace ibllm::checkpoint {

CheckpointConfig parse_checkpoint_config(config::Section s) {
  CheckpointConfig c;
  s.field("every_steps", c.every_steps, config::at_least(0));
  s.field("keep_last", c.keep_last, config::at_least(0));
  s.field("resume", c.resume);
  s.field("save_optimizer", c.save_optimizer);
  if (c.resume.find_first_not_of(" \t") == std::string::npos) {
    s.fail("resume",
           "must be `auto`, `never` or the path of a checkpoint (or checkpoints/) directory");
  }
  return c;
}

}  // namespace ibllm::checkpoint
