// Minimal command-line parsing shared by all subcommands: positionals, repeatable `--set k=v`,
// `--flag value` options and boolean switches. Unknown flags are usage errors (exit 2).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ibllm::cli {

struct ArgSpec {
  std::vector<std::string> value_flags;   // take one value: --out path
  std::vector<std::string> multi_flags;   // repeatable, take one value each: --set k=v
  std::vector<std::string> switch_flags;  // no value: --quiet
};

struct Args {
  std::vector<std::string> positionals;
  std::map<std::string, std::vector<std::string>> values;  // flag -> values (in order)
  std::vector<std::string> switches;
  bool help = false;

  bool has(const std::string& flag) const;
  std::optional<std::string> value(const std::string& flag) const;
  std::vector<std::string> all(const std::string& flag) const;
};

// Throws UsageError naming the offending argument; `usage` is appended as the hint.
Args parse_args(const std::vector<std::string>& argv, const ArgSpec& spec, const std::string& usage);

}  // namespace ibllm::cli
