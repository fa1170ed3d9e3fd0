// The `checkpoint:` section of a run config: how often to save, how many to keep, how to resume.
// `resume` is a free string (auto | never | a path) rather than a choice, because a path is a legal
// value; whether the path exists is checked when resuming (resolve_resume), not while parsing.
#pragma once

#include <cstdint>
#include <string>

#include "src/config/section.h"

namespace ibllm::checkpoint {

struct CheckpointConfig {
  int64_t every_steps = 0;      // 0: only at the end (and on SIGTERM/SIGINT)
  int64_t keep_last = 3;        // 0 = keep all
  std::string resume = "auto";  // auto | never | <checkpoint dir, checkpoints/ dir or run dir>
  bool save_optimizer = true;
};

CheckpointConfig parse_checkpoint_config(config::Section s);

}  // namespace ibllm::checkpoint
