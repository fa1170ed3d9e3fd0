// Shared by the config-driven commands (train, eval, export, bench): load the config with its
// overrides, start logging at run.log_level, and find the config of a checkpoint directory so
// `ibllm eval runs/x/checkpoints/step_100` works without repeating the YAML.
#pragma once

#include <string>
#include <vector>

#include "trainers/run_config.h"

namespace ibllm::cli {

struct LoadedRun {
  train::RunConfig config;
  std::string resolved_yaml;
  std::string config_path;
  std::string checkpoint;  // from a checkpoint-directory positional or --checkpoint
};

// `target` is a YAML file, or a checkpoint directory holding config.yaml (then it is also the
// checkpoint). An explicit `checkpoint` wins.
LoadedRun load_run(const std::string& target, const std::string& checkpoint,
                   const std::vector<std::string>& overrides, train::Checks checks);

}  // namespace ibllm::cli
