// `ibllm info`: build and runtime facts, human-readable or --json.
#include <fmt/format.h>

#include "data/sentencepiece_library.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "src/core/error.h"
#include "src/core/runtime_info.h"
#include "src/distributed/communicator.h"

namespace ibllm::cli {

int cmd_info(const std::vector<std::string>& argv, std::ostream& out) {
  auto args = parse_args(argv, ArgSpec{{}, {}, {"--json", "--version"}}, "ibllm info [--json]");
  if (!args.positionals.empty())
    throw UsageError("info takes no positional arguments", "ibllm info [--json]");
  auto info = core::runtime_info();
  info["nccl"] = dist::nccl_version();
  info["sentencepiece_plugin"] = data::sentencepiece_plugin_status();
  if (args.has("--version")) {
    out << "ibllm " << info["ibllm_version"].get<std::string>() << " ("
        << info["git_sha"].get<std::string>() << ")\n";
    return 0;
  }
  if (args.has("--json")) {
    out << info.dump(2) << "\n";
    return 0;
  }
  for (const auto& [k, v] : info.items())
    out << fmt::format("{:<21} {}\n", k, v.is_string() ? v.get<std::string>() : v.dump());
  return 0;
}

}  // namespace ibllm::cli
