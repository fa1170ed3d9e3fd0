// Fuzz harnesses for the dataset files: a caption TSV (tsv) and a LLaVA / Alpaca / JSON Lines file
// (json_records, the first byte picks the kind), each read by the table/record splitter and then by
// Dataset, the way training reads them (malformed rows skipped and counted, texts clipped at a small
// max_text_bytes so UTF-8 boundaries are exercised). Every row the splitter keeps must carry a line
// inside the file, in file order.
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/json_records.h"
#include "data/tsv_reader.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/harnesses.h"

namespace ibllm::fuzz {
namespace {

int64_t line_count(const std::string& text) {
  int64_t n = 1;
  for (char c : text) n += c == '\n';
  return n;
}

void load_dataset(data::SourceKind kind, const std::string& path) {
  data::DataConfig c;
  data::SourceConfig src;
  src.kind = kind;
  src.path = path;
  c.sources.push_back(src);
  c.on_malformed = data::MalformedPolicy::kSkip;
  c.max_text_bytes = 7;
  data::Dataset d(c);
  for (int64_t i = 0; i < d.size(); ++i) {
    const auto& r = d.record(i);
    require(!r.turns.empty(), "a record without turns");
    for (const auto& t : r.turns)
      for (const auto& a : t.answers) require(a.size() <= 7, "an answer longer than max_text_bytes");
  }
}

// `same_line_ok`: JSON array entries may share a line; TSV rows and JSON Lines may not.
template <class Row>
void check_lines(const std::vector<Row>& rows, const std::string& text, bool same_line_ok) {
  int64_t prev = 0;
  const int64_t last = line_count(text);
  for (const auto& r : rows) {
    const bool ordered = same_line_ok ? r.line >= prev : r.line > prev;
    require(ordered && r.line >= 1 && r.line <= last,
            "row line " + std::to_string(r.line) + " out of order or outside the file");
    prev = r.line;
  }
}

}  // namespace

int tsv_one_input(const uint8_t* data, size_t size) {
  return expect_ibllm_errors([&] {
    const std::string text(reinterpret_cast<const char*>(data), size);
    check_lines(data::parse_tsv(text, "fuzz.tsv").rows, text, false);
    load_dataset(data::SourceKind::kCaptionTsv, write_input("input.tsv", data, size));
  });
}

int json_records_one_input(const uint8_t* data, size_t size) {
  return expect_ibllm_errors([&] {
    if (size == 0) return;
    const data::SourceKind kinds[] = {data::SourceKind::kLlava, data::SourceKind::kAlpaca,
                                      data::SourceKind::kJsonl};
    const data::SourceKind kind = kinds[data[0] % 3];
    const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
    if (kind == data::SourceKind::kJsonl) {
      check_lines(data::parse_json_lines(text, "fuzz.jsonl").entries, text, false);
    } else {
      check_lines(data::parse_json_array(text, "fuzz.json").entries, text, true);
    }
    load_dataset(kind, write_input("input.json", data + 1, size - 1));
  });
}

}  // namespace ibllm::fuzz
