// `ibllm check-config <yaml> [--set k=v ...]`: parse and validate without running anything; prints
// the resolved config (every key with its effective value) and the derived numbers a run would use.
#include "src/cli/args.h"
#include "src/cli/commands.h"
#include "src/core/error.h"
#include "trainers/run_config.h"

namespace ibllm::cli {

int cmd_check_config(const std::vector<std::string>& argv, std::ostream& out) {
  const std::string usage = "ibllm check-config <config.yaml> [--set key.path=value ...] [--quiet]";
  auto args = parse_args(argv, ArgSpec{{}, {"--set"}, {"--quiet"}}, usage);
  if (args.positionals.size() != 1) throw UsageError("expected exactly one config file", usage);
  std::string resolved;
  train::load_run_config(args.positionals[0], args.all("--set"), &resolved);
  if (!args.has("--quiet")) out << resolved;
  out << "# " << args.positionals[0] << ": OK\n";
  return 0;
}

}  // namespace ibllm::cli
