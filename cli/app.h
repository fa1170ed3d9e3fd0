// The `ibllm` application: the command table and dispatch. run_app() throws ibllm::Error on failure;
// only main() catches (printing "error: [component] message" and the hint) and maps exit codes:
// 0 ok, 1 runtime error, 2 usage/config error.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace ibllm::cli {

// args excludes the program name. Returns the exit code for non-error outcomes (0, or 2 for a
// command that exists but is not implemented yet).
int run_app(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// Printed by `ibllm --help`.
std::string top_level_usage();

}  // namespace ibllm::cli
