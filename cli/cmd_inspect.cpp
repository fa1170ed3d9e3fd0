// `ibllm inspect <file>`: what a weights file holds (names, dtypes, shapes, bytes, totals, metadata,
// and for .pth the non-tensor entries) without reading tensor data.
#include "cli/args.h"
#include "cli/commands.h"
#include "src/core/error.h"
#include "src/io/inspect.h"

namespace ibllm::cli {

int cmd_inspect(const std::vector<std::string>& argv, std::ostream& out) {
  const std::string usage = "ibllm inspect <file.pth|file.safetensors|index.json|dir> [--max N]";
  auto args = parse_args(argv, ArgSpec{{"--max"}, {}, {}}, usage);
  if (args.positionals.size() != 1) throw UsageError("expected exactly one weights file", usage);
  size_t max_lines = SIZE_MAX;
  if (auto m = args.value("--max")) {
    try {
      max_lines = static_cast<size_t>(std::stoull(*m));
    } catch (const std::exception&) {
      throw UsageError("--max expects a non-negative integer, got '" + *m + "'", usage);
    }
  }
  out << io::format_weights_summary(io::inspect_weights(args.positionals[0]), max_lines);
  return 0;
}

}  // namespace ibllm::cli
