// TSV splitting with pandas-compatible quoting; a malformed row is recorded (not thrown) so the
// dataset can apply on_malformed (error with file:line, or skip and count).
#include "data/tsv_reader.h"

#include "data/data_file.h"


#include "src/core/error.h"

namespace ibllm::data {

int TsvTable::column(const std::string& name) const {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return static_cast<int>(i);
  return -1;
}

TsvTable read_tsv(const std::string& path) { return parse_tsv(read_data_file(path), path); }

TsvTable parse_tsv(const std::string& text, const std::string& path) {
  TsvTable t;
  t.path = path;
  size_t i = 0;
  const size_t n = text.size();
  int64_t line = 1;
  bool have_header = false;
  while (i < n) {
    const int64_t row_line = line;
    std::vector<std::string> fields;
    std::string error;
    std::string cur;
    bool row_done = false;
    while (!row_done) {
      cur.clear();
      if (i < n && text[i] == '"') {  // quoted field
        ++i;
        bool closed = false;
        while (i < n) {
          char c = text[i];
          if (c == '"') {
            if (i + 1 < n && text[i + 1] == '"') {
              cur.push_back('"');
              i += 2;
              continue;
            }
            ++i;
            closed = true;
            break;
          }
          if (c == '\n') ++line;
          cur.push_back(c);
          ++i;
        }
        if (!closed) error = "unterminated quoted field";
        // After the closing quote: a tab, a line end (\n or \r\n), or the end of the text. A lone
        // \r is data here as in unquoted fields (it must not end the row and miscount lines).
        const bool crlf = i < n && text[i] == '\r' && (i + 1 == n || text[i + 1] == '\n');
        if (closed && i < n && text[i] != '\t' && text[i] != '\n' && !crlf)
          error = "text after a closing quote (quote the whole field, double inner quotes)";
        // skip to the field end on error
        while (!error.empty() && i < n && text[i] != '\t' && text[i] != '\n') ++i;
      } else {
        while (i < n && text[i] != '\t' && text[i] != '\n') cur.push_back(text[i++]);
        if (!cur.empty() && cur.back() == '\r' && (i >= n || text[i] == '\n')) cur.pop_back();
      }
      if (i < n && text[i] == '\r' && i + 1 < n && text[i + 1] == '\n') ++i;
      fields.push_back(cur);
      if (i >= n) {
        row_done = true;
      } else if (text[i] == '\t') {
        ++i;
      } else {  // '\n'
        ++i;
        ++line;
        row_done = true;
      }
    }
    const bool blank = fields.size() == 1 && fields[0].empty() && error.empty();
    if (blank) continue;
    if (!have_header) {
      if (!error.empty())
        throw DataError(path + ":" + std::to_string(row_line) + ": header row: " + error);
      t.header = fields;
      have_header = true;
      continue;
    }
    t.rows.push_back(TsvRow{row_line, std::move(fields), error});
  }
  if (!have_header)
    throw DataError(path + " is empty (no header row)",
                    "a caption TSV starts with a header such as url<TAB>caption");
  return t;
}

}  // namespace ibllm::data
