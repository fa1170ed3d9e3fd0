// Name tables for enum-valued config choices. Each choice (`trainer.loss_norm`, `dist.backend`, ...)
// is one enum plus one table next to its config struct; Section::choice parses the YAML string into
// the enum (with "did you mean"), and choice_name turns it back into the string for logs, resolved
// configs and checkpoint signatures. Code switches on the enum; no string literal is compared.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace ibllm::core {

template <class E>
using ChoiceTable = std::vector<std::pair<std::string, E>>;

// The name of `value` in `table` (every enum value has exactly one row).
template <class E>
const std::string& choice_name(const ChoiceTable<E>& table, E value) {
  for (const auto& row : table)
    if (row.second == value) return row.first;
  static const std::string unknown = "?";
  return unknown;
}

}  // namespace ibllm::core
