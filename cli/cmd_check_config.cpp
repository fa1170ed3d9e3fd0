// `ibllm check-config <yaml> [--set k=v ...]`: parse and validate without running anything; prints
// the resolved config (every key with its effective value). By default it also checks that data files
// exist and the tokenizer loads and fits the model (--no-files skips the file checks).
#include "cli/args.h"
#include "cli/commands.h"
#include "src/core/error.h"
#include "trainers/run_config.h"

namespace ibllm::cli {

int cmd_check_config(const std::vector<std::string>& argv, std::ostream& out) {
  const std::string usage = "ibllm check-config <config.yaml> [--set key.path=value ...] [--quiet] [--no-files]\n"
      "  --no-files   check the YAML only (types, ranges, consistency); by default data files must\n"
      "               exist and the tokenizer must load";
  auto args = parse_args(argv, ArgSpec{{}, {"--set"}, {"--quiet", "--no-files"}}, usage);
  if (args.positionals.size() != 1) throw UsageError("expected exactly one config file", usage);
  std::string resolved;
  train::load_run_config(args.positionals[0], args.all("--set"), &resolved,
                         args.has("--no-files") ? train::Checks::kSyntax : train::Checks::kResources);
  if (!args.has("--quiet")) out << resolved;
  out << "# " << args.positionals[0] << ": OK\n";
  return 0;
}

}  // namespace ibllm::cli
