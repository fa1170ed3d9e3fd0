// Console logging setup (see logging.h).
#include "src/core/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdlib>

#include "src/core/error.h"

namespace ibllm::core {

spdlog::level::level_enum parse_log_level(const std::string& level) {
  if (level == "trace") return spdlog::level::trace;
  if (level == "debug") return spdlog::level::debug;
  if (level == "info") return spdlog::level::info;
  if (level == "warn") return spdlog::level::warn;
  if (level == "error") return spdlog::level::err;
  if (level == "off") return spdlog::level::off;
  throw ConfigError("unknown log level '" + level + "'",
                    "use one of trace, debug, info, warn, error, off");
}

std::string effective_log_level(const std::string& configured) {
  const char* env = std::getenv("IBLLM_LOG_LEVEL");
  return env && *env ? std::string(env) : configured;
}

void init_logging(const LogOptions& opts) {
  auto level = parse_log_level(effective_log_level(opts.level));
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("ibllm", sink);
  if (opts.world_size > 1) {
    logger->set_pattern("[%H:%M:%S] [rank " + std::to_string(opts.rank) + "] %^%l%$ %v");
  } else {
    logger->set_pattern("[%H:%M:%S] %^%l%$ %v");
  }
  if (opts.rank != 0 && level < spdlog::level::warn) level = spdlog::level::warn;
  logger->set_level(level);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

}  // namespace ibllm::core
