// Minimal command-line parsing shared by all subcommands: positionals, repeatable `--set k=v`,
// `--flag value` options and boolean switches. Unknown flags are usage errors (exit 2).
#pragma once

#include <cstdint>
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

// Numbers given on the command line: the whole text must parse, else a UsageError
// ("--batch expects an integer >= 1, got 'x'"). `what` names the flag (or list item) in it; a `min`
// of INT64_MIN accepts any integer (the caller checks the range).
int64_t parse_int(const std::string& what, const std::string& text, int64_t min,
                  const std::string& usage);
double parse_number(const std::string& what, const std::string& text, const std::string& usage);
// The same for a flag's value; `fallback` when the flag is absent.
int64_t int_flag(const Args& a, const std::string& flag, int64_t fallback, int64_t min,
                 const std::string& usage);
double number_flag(const Args& a, const std::string& flag, double fallback,
                   const std::string& usage);

}  // namespace ibllm::cli
