// Argument parsing (see args.h). Accepts `--flag value` and `--flag=value`.
#include "cli/args.h"

#include <algorithm>
#include <limits>

#include "src/core/error.h"
#include "src/core/strings.h"

namespace ibllm::cli {

bool Args::has(const std::string& flag) const {
  return values.count(flag) || std::find(switches.begin(), switches.end(), flag) != switches.end();
}

std::optional<std::string> Args::value(const std::string& flag) const {
  auto it = values.find(flag);
  if (it == values.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::vector<std::string> Args::all(const std::string& flag) const {
  auto it = values.find(flag);
  return it == values.end() ? std::vector<std::string>{} : it->second;
}

Args parse_args(const std::vector<std::string>& argv, const ArgSpec& spec, const std::string& usage) {
  auto in = [](const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  std::vector<std::string> known = spec.value_flags;
  known.insert(known.end(), spec.multi_flags.begin(), spec.multi_flags.end());
  known.insert(known.end(), spec.switch_flags.begin(), spec.switch_flags.end());
  known.push_back("--help");
  Args a;
  for (size_t i = 0; i < argv.size(); ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      a.help = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0 || arg == "--") {
      if (arg.size() > 1 && arg[0] == '-' && arg != "-")
        throw UsageError("unknown option '" + arg + "'", usage);
      a.positionals.push_back(arg);
      continue;
    }
    std::string flag = arg, inline_value;
    bool has_inline = false;
    if (auto eq = arg.find('='); eq != std::string::npos) {
      flag = arg.substr(0, eq);
      inline_value = arg.substr(eq + 1);
      has_inline = true;
    }
    if (in(spec.switch_flags, flag)) {
      if (has_inline) throw UsageError("option '" + flag + "' takes no value", usage);
      a.switches.push_back(flag);
    } else if (in(spec.value_flags, flag) || in(spec.multi_flags, flag)) {
      std::string v;
      if (has_inline) {
        v = inline_value;
      } else {
        if (i + 1 >= argv.size()) throw UsageError("option '" + flag + "' needs a value", usage);
        v = argv[++i];
      }
      if (in(spec.value_flags, flag) && a.values.count(flag))
        throw UsageError("option '" + flag + "' given twice", usage);
      a.values[flag].push_back(v);
    } else {
      std::string msg = "unknown option '" + flag + "'";
      std::string near = core::closest_match(flag, known);
      if (!near.empty()) msg += " (did you mean '" + near + "'?)";
      throw UsageError(msg, usage);
    }
  }
  return a;
}

int64_t parse_int(const std::string& what, const std::string& text, int64_t min,
                  const std::string& usage) {
  try {
    size_t used = 0;
    const long long x = std::stoll(text, &used);
    if (used == text.size() && x >= min) return x;
  } catch (const std::exception&) {
  }
  const bool any = min == std::numeric_limits<int64_t>::min();
  throw UsageError(what + " expects an integer" + (any ? "" : " >= " + std::to_string(min)) +
                       ", got '" + text + "'",
                   usage);
}

double parse_number(const std::string& what, const std::string& text, const std::string& usage) {
  try {
    size_t used = 0;
    const double x = std::stod(text, &used);
    if (used == text.size()) return x;
  } catch (const std::exception&) {
  }
  throw UsageError(what + " expects a number, got '" + text + "'", usage);
}

int64_t int_flag(const Args& a, const std::string& flag, int64_t fallback, int64_t min,
                 const std::string& usage) {
  auto v = a.value(flag);
  return v ? parse_int(flag, *v, min, usage) : fallback;
}

double number_flag(const Args& a, const std::string& flag, double fallback,
                   const std::string& usage) {
  auto v = a.value(flag);
  return v ? parse_number(flag, *v, usage) : fallback;
}

}  // namespace ibllm::cli
