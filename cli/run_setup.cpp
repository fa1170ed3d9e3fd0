// load_run; see run_setup.h.
#include "cli/run_setup.h"

#include <filesystem>

#include "src/core/error.h"
#include "src/core/logging.h"

namespace ibllm::cli {

LoadedRun load_run(const std::string& target, const std::string& checkpoint,
                   const std::vector<std::string>& overrides, train::Checks checks) {
  namespace fs = std::filesystem;
  LoadedRun r;
  r.config_path = target;
  r.checkpoint = checkpoint;
  if (fs::is_directory(target)) {
    const auto cfg = fs::path(target) / "config.yaml";
    if (!fs::exists(cfg))
      throw UsageError(target + " is a directory without config.yaml",
                       "pass a YAML config, or a checkpoint directory (runs/<name>/checkpoints/"
                       "step_N)");
    r.config_path = cfg.string();
    if (r.checkpoint.empty()) r.checkpoint = target;
  }
  r.config = train::load_run_config(r.config_path, overrides, &r.resolved_yaml, checks);
  core::LogOptions lo;
  lo.level = r.config.run.log_level;
  core::init_logging(lo);
  return r;
}

}  // namespace ibllm::cli
