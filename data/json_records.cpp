// JSON array splitting and JSON Lines reading with line numbers (see header).
#include "data/json_records.h"

#include "data/data_file.h"


#include "src/core/error.h"

namespace ibllm::data {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

void parse_one(JsonEntries& out, const std::string& text, int64_t line) {
  try {
    out.entries.push_back(JsonEntry{line, nlohmann::json::parse(text), ""});
  } catch (const nlohmann::json::exception& e) {  // parse_error, out_of_range (number overflow)
    out.entries.push_back(JsonEntry{line, nullptr, std::string("invalid JSON: ") + e.what()});
  }
}

}  // namespace

JsonEntries read_json_array(const std::string& path) { return parse_json_array(read_data_file(path), path); }
JsonEntries read_json_lines(const std::string& path) { return parse_json_lines(read_data_file(path), path); }

JsonEntries parse_json_array(const std::string& text, const std::string& path) {
  JsonEntries out;
  out.path = path;
  size_t i = 0;
  const size_t n = text.size();
  int64_t line = 1;
  auto skip_space = [&] {
    while (i < n && is_space(text[i])) {
      if (text[i] == '\n') ++line;
      ++i;
    }
  };
  if (n >= 3 && static_cast<unsigned char>(text[0]) == 0xEF) i = 3;  // UTF-8 BOM
  skip_space();
  if (i >= n) throw DataError(path + " is empty", "an instruction file is a JSON array of objects");
  if (text[i] != '[')
    throw DataError(path + ":" + std::to_string(line) + ": expected a JSON array '[' at top level",
                    "for one object per line use kind: jsonl");
  ++i;
  skip_space();
  if (i < n && text[i] == ']') return out;
  while (i < n) {
    skip_space();
    const size_t begin = i;
    const int64_t begin_line = line;
    int depth = 0;
    bool in_string = false;
    for (; i < n; ++i) {
      const char c = text[i];
      if (c == '\n') ++line;
      if (in_string) {
        if (c == '\\') {
          ++i;
          if (i < n && text[i] == '\n') ++line;
        } else if (c == '"') {
          in_string = false;
        }
        continue;
      }
      if (c == '"')
        in_string = true;
      else if (c == '{' || c == '[')
        ++depth;
      else if (c == '}' || c == ']') {
        if (depth == 0) break;  // the closing ']' of the top-level array
        --depth;
      } else if (c == ',' && depth == 0)
        break;
    }
    if (i >= n)
      throw DataError(path + ":" + std::to_string(begin_line) +
                      ": the JSON array is not closed (file truncated?)");
    parse_one(out, text.substr(begin, i - begin), begin_line);
    if (text[i] == ']') {
      ++i;
      skip_space();
      if (i < n)
        throw DataError(path + ":" + std::to_string(line) + ": text after the closing ']'");
      return out;
    }
    ++i;  // ','
  }
  throw DataError(path + ": the JSON array is not closed (file truncated?)");
}

JsonEntries parse_json_lines(const std::string& text, const std::string& path) {
  JsonEntries out;
  out.path = path;
  size_t i = 0;
  int64_t line = 0;
  while (i < text.size()) {
    size_t e = text.find('\n', i);
    if (e == std::string::npos) e = text.size();
    ++line;
    std::string s = text.substr(i, e - i);
    i = e + 1;
    bool blank = true;
    for (char c : s) blank = blank && is_space(c);
    if (!blank) parse_one(out, s, line);
  }
  return out;
}

}  // namespace ibllm::data
