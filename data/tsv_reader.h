// Tab-separated tables as the official caption files are written (pandas read_csv(sep="\t")):
// a header row naming the columns in any order, fields optionally quoted with '"' (a quoted field
// may hold tabs and newlines; "" is a literal quote), \n or \r\n line ends. Each row keeps the
// 1-based line it starts on, so every later error can say file:line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ibllm::data {

struct TsvRow {
  int64_t line = 0;
  std::vector<std::string> fields;
  std::string error;  // non-empty: the row could not be split (unterminated quote, ...)
};

struct TsvTable {
  std::string path;
  std::vector<std::string> header;
  std::vector<TsvRow> rows;  // in file order, malformed rows included (with `error` set)
  // Index of a header column, -1 when absent.
  int column(const std::string& name) const;
};

// Throws DataError for an unreadable/empty file or an empty header.
TsvTable read_tsv(const std::string& path);
// Same from memory (`path` is used in messages).
TsvTable parse_tsv(const std::string& text, const std::string& path);

}  // namespace ibllm::data
