// Entries of a JSON array file (LLaVA, Alpaca) or a JSON Lines file, each with the 1-based line it
// starts on. The array is split by a small scanner (strings, escapes, nesting) and each element is
// parsed on its own, so a bad entry is reported as file:line and can be skipped without losing the
// rest of the file.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace ibllm::data {

struct JsonEntry {
  int64_t line = 0;
  nlohmann::json value;
  std::string error;  // non-empty: the entry is not valid JSON (value is null)
};

struct JsonEntries {
  std::string path;
  std::vector<JsonEntry> entries;  // in file order, invalid ones included (with `error` set)
};

// Top-level must be an array (else DataError). Unreadable file -> DataError.
JsonEntries read_json_array(const std::string& path);
JsonEntries parse_json_array(const std::string& text, const std::string& path);
// One JSON value per non-blank line.
JsonEntries read_json_lines(const std::string& path);
JsonEntries parse_json_lines(const std::string& text, const std::string& path);

}  // namespace ibllm::data
