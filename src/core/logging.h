// Process-wide console logging on spdlog. Rank 0 logs at the configured level; other ranks log
// warnings and errors only, each line prefixed with "[rank N]" so multi-process output stays
// readable. The level comes from the config (run.log_level) or IBLLM_LOG_LEVEL, env winning.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace ibllm::core {

struct LogOptions {
  int rank = 0;
  int world_size = 1;
  std::string level = "info";  // trace debug info warn error off
};

// Idempotent; safe to call again (e.g. after the rank is known). Throws ConfigError for a bad level.
void init_logging(const LogOptions& opts);
// The level that init_logging would use for rank 0 given `configured` and the environment.
std::string effective_log_level(const std::string& configured);
spdlog::level::level_enum parse_log_level(const std::string& level);

}  // namespace ibllm::core
