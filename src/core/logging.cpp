// Console logging setup (see logging.h).
#include "src/core/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdlib>

#include "src/core/error.h"
#include "src/core/strings.h"

namespace ibllm::core {

const ChoiceTable<spdlog::level::level_enum>& log_level_names() {
  static const ChoiceTable<spdlog::level::level_enum> t = {
      {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},   {"warn", spdlog::level::warn},
      {"error", spdlog::level::err},   {"off", spdlog::level::off}};
  return t;
}

spdlog::level::level_enum parse_log_level(const std::string& level, const std::string& what) {
  std::vector<std::string> names;
  for (const auto& [name, value] : log_level_names()) {
    if (name == level) return value;
    names.push_back(name);
  }
  throw ConfigError("unknown " + what + " '" + level + "'", "use one of " + join(names, ", "));
}

spdlog::level::level_enum effective_log_level(spdlog::level::level_enum configured) {
  const char* env = std::getenv("IBLLM_LOG_LEVEL");
  return env && *env ? parse_log_level(env, "IBLLM_LOG_LEVEL") : configured;
}

void init_logging(const LogOptions& opts) {
  auto level = effective_log_level(opts.level);
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
