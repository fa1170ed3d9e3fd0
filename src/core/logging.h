// Process-wide console logging on spdlog. Rank 0 logs at the configured level; other ranks log
// warnings and errors only, each line prefixed with "[rank N]" so multi-process output stays
// readable. The level comes from the config (run.log_level) or IBLLM_LOG_LEVEL, env winning.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

#include "src/core/choice_table.h"

namespace ibllm::core {

// run.log_level and IBLLM_LOG_LEVEL: trace, debug, info, warn, error, off.
const ChoiceTable<spdlog::level::level_enum>& log_level_names();

struct LogOptions {
  int rank = 0;
  int world_size = 1;
  spdlog::level::level_enum level = spdlog::level::info;
};

// Idempotent; safe to call again (e.g. after the rank is known). Throws ConfigError for a bad level.
void init_logging(const LogOptions& opts);
// The level that init_logging would use for rank 0 given `configured` and the environment
// (IBLLM_LOG_LEVEL wins; a bad value there is a ConfigError naming the variable).
spdlog::level::level_enum effective_log_level(spdlog::level::level_enum configured);
// A name of log_level_names(); anything else throws ConfigError naming `what`.
spdlog::level::level_enum parse_log_level(const std::string& level,
                                          const std::string& what = "log level");

}  // namespace ibllm::core
