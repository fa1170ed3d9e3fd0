// CLIP BPE tokenizer (spec §1.4.2). Text is processed as Unicode code points; letters/numbers are
// classified with range tables generated from Python's unicodedata (data/clip_unicode_tables.inc,
// written by tests/golden/gen/clip_bpe_reference.py), so the hand-written matcher classifies every
// code point exactly as the `regex` module's \p{L} / \p{N} of that Unicode version.
#include "data/clip_tokenizer.h"

#include <ATen/ATen.h>
#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <utility>

#include "src/core/error.h"

namespace ibllm::data {

namespace {

struct CodeRange {
  char32_t first;
  char32_t second;
};

#include "data/clip_unicode_tables.inc"

template <size_t N>
const CodeRange* find_range(const CodeRange (&table)[N], char32_t cp) {
  auto it = std::upper_bound(table, table + N, cp,
                             [](char32_t v, const CodeRange& r) { return v < r.first; });
  if (it == table) return nullptr;
  --it;
  return cp <= it->second ? it : nullptr;
}

bool is_letter(char32_t cp) { return find_range(kLetterRanges, cp) != nullptr; }
bool is_number(char32_t cp) { return find_range(kNumberRanges, cp) != nullptr; }

// The Unicode White_Space property (what \s matches in the reference's regex engine).
bool is_space(char32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

// kLowerMap holds (code point, lower) pairs sorted by code point.
void append_lower(std::u32string& out, char32_t cp) {
  if (cp == 0x130) {  // the one full (two code point) mapping of str.lower()
    out += U'i';
    out += char32_t(0x307);
    return;
  }
  constexpr size_t n = sizeof(kLowerMap) / sizeof(kLowerMap[0]);
  auto it = std::lower_bound(kLowerMap, kLowerMap + n, cp,
                             [](const CodeRange& r, char32_t v) { return r.first < v; });
  out += (it != kLowerMap + n && it->first == cp) ? it->second : cp;
}

std::u32string utf8_to_u32(const std::string& s) {
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    auto b = static_cast<unsigned char>(s[i]);
    int len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    char32_t cp = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
    bool ok = len > 0 && i + len <= n;
    for (int k = 1; ok && k < len; ++k) {
      auto c = static_cast<unsigned char>(s[i + k]);
      if ((c >> 6) != 2) ok = false;
      cp = (cp << 6) | (c & 0x3F);
    }
    if (ok && ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
               cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)))
      ok = false;  // overlong, out of range or surrogate
    if (!ok) {
      out += char32_t(0xFFFD);
      i += 1;
      continue;
    }
    out += cp;
    i += len;
  }
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string u32_to_utf8(const std::u32string& s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t cp : s) append_utf8(out, cp);
  return out;
}

// One pass of HTML unescaping: numeric references (&#65; &#x41;, ';' optional), the named
// entities below (';' required except for amp/lt/gt/quot, as in HTML5). Rarer named entities are
// left as they are (Python's html.unescape knows all 2231; documented difference).
std::u32string html_unescape(const std::u32string& s) {
  static const std::pair<const char*, char32_t> kNamed[] = {
      {"amp", U'&'},      {"lt", U'<'},      {"gt", U'>'},      {"quot", U'"'},
      {"apos", U'\''},    {"nbsp", 0xA0},    {"copy", 0xA9},    {"reg", 0xAE},
      {"hellip", 0x2026}, {"mdash", 0x2014}, {"ndash", 0x2013}, {"lsquo", 0x2018},
      {"rsquo", 0x2019},  {"ldquo", 0x201C}, {"rdquo", 0x201D}, {"trade", 0x2122},
      {"deg", 0xB0},      {"times", 0xD7},   {"euro", 0x20AC},  {"laquo", 0xAB},
      {"raquo", 0xBB}};
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] != U'&') {
      out += s[i++];
      continue;
    }
    size_t j = i + 1;
    if (j < s.size() && s[j] == U'#') {
      ++j;
      bool hex = j < s.size() && (s[j] == U'x' || s[j] == U'X');
      if (hex) ++j;
      size_t start = j;
      unsigned long long v = 0;
      while (j < s.size() && j - start < 12) {
        char32_t c = s[j];
        int d = (c >= U'0' && c <= U'9')          ? int(c - U'0')
                : (hex && c >= U'a' && c <= U'f') ? int(c - U'a' + 10)
                : (hex && c >= U'A' && c <= U'F') ? int(c - U'A' + 10)
                                                  : -1;
        if (d < 0) break;
        v = v * (hex ? 16 : 10) + unsigned(d);
        ++j;
      }
      if (j == start) {
        out += s[i++];
        continue;
      }
      if (j < s.size() && s[j] == U';') ++j;
      bool bad = v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF);
      out += bad ? char32_t(0xFFFD) : char32_t(v);
      i = j;
      continue;
    }
    bool done = false;
    for (const auto& [name, cp] : kNamed) {
      size_t len = std::strlen(name);
      if (i + 1 + len > s.size()) continue;
      bool match = true;
      for (size_t k = 0; k < len && match; ++k) match = s[i + 1 + k] == char32_t(name[k]);
      if (!match) continue;
      bool semi = i + 1 + len < s.size() && s[i + 1 + len] == U';';
      bool bare_ok = cp == U'&' || cp == U'<' || cp == U'>' || cp == U'"';
      if (!semi && !bare_ok) continue;
      out += cp;
      i += 1 + len + (semi ? 1 : 0);
      done = true;
      break;
    }
    if (!done) out += s[i++];
  }
  return out;
}

std::u32string strip(const std::u32string& s) {
  size_t a = 0, b = s.size();
  while (a < b && is_space(s[a])) ++a;
  while (b > a && is_space(s[b - 1])) --b;
  return s.substr(a, b - a);
}

enum class Kind { kSpace, kLetter, kNumber, kOther };

Kind kind_of(char32_t cp) {
  if (is_space(cp)) return Kind::kSpace;
  if (is_letter(cp)) return Kind::kLetter;
  if (is_number(cp)) return Kind::kNumber;
  return Kind::kOther;
}

bool starts_with(const std::u32string& s, size_t i, const char* lit) {
  for (size_t k = 0; lit[k]; ++k)
    if (i + k >= s.size() || s[i + k] != char32_t(static_cast<unsigned char>(lit[k]))) return false;
  return true;
}

// The GPT-2 byte <-> symbol table: printable Latin-1 bytes map to themselves, the other 68 to
// U+0100 + n in byte order. Vocabulary order: the printable ones first, then the others.
void byte_symbols(std::vector<std::string>& by_byte, std::vector<int>& vocab_order) {
  auto keep = [](int b) {
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
  };
  by_byte.assign(256, "");
  vocab_order.clear();
  int extra = 0;
  for (int b = 0; b < 256; ++b)
    if (keep(b)) {
      append_utf8(by_byte[b], char32_t(b));
      vocab_order.push_back(b);
    }
  for (int b = 0; b < 256; ++b)
    if (!keep(b)) {
      append_utf8(by_byte[b], char32_t(256 + extra++));
      vocab_order.push_back(b);
    }
}

std::string read_gz_text(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");  // also reads an uncompressed file transparently
  if (!f)
    throw DataError("cannot open CLIP BPE vocabulary '" + path + "'",
                    "pass the bpe_simple_vocab_16e6.txt.gz file (e.g. with --bpe)");
  std::string text;
  std::vector<char> buf(1 << 16);
  int n;
  while ((n = gzread(f, buf.data(), static_cast<unsigned>(buf.size()))) > 0)
    text.append(buf.data(), static_cast<size_t>(n));
  int errnum = 0;
  const char* msg = n < 0 ? gzerror(f, &errnum) : nullptr;
  std::string err = msg ? msg : "";
  gzclose(f);
  if (n < 0)
    throw DataError("cannot read CLIP BPE vocabulary '" + path + "': " + err,
                    "the file is truncated or not gzip/text");
  return text;
}

}  // namespace

std::string clip_clean_text(const std::string& text) {
  std::u32string s = strip(html_unescape(html_unescape(utf8_to_u32(text))));
  std::u32string collapsed;
  collapsed.reserve(s.size());
  bool in_space = false;
  for (char32_t cp : s) {
    if (is_space(cp)) {
      if (!in_space) collapsed += U' ';
      in_space = true;
    } else {
      collapsed += cp;
      in_space = false;
    }
  }
  collapsed = strip(collapsed);
  std::u32string lower;
  lower.reserve(collapsed.size());
  for (char32_t cp : collapsed) append_lower(lower, cp);
  return u32_to_utf8(lower);
}

std::vector<std::string> clip_pretokenize(const std::string& cleaned) {
  static const char* kSpecial[] = {"<|startoftext|>", "<|endoftext|>"};
  static const char* kContractions[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
  const std::u32string s = utf8_to_u32(cleaned);
  std::vector<std::string> words;
  size_t i = 0;
  while (i < s.size()) {
    const char* lit = nullptr;
    for (const char* sp : kSpecial)
      if (starts_with(s, i, sp)) lit = sp;
    if (!lit && s[i] == U'\'')
      for (const char* c : kContractions)
        if (!lit && starts_with(s, i, c)) lit = c;
    if (lit) {
      words.emplace_back(lit);
      i += std::strlen(lit);
      continue;
    }
    Kind k = kind_of(s[i]);
    if (k == Kind::kSpace) {
      ++i;
      continue;
    }
    size_t j = i + 1;
    if (k != Kind::kNumber)
      while (j < s.size() && kind_of(s[j]) == k) ++j;
    words.push_back(u32_to_utf8(s.substr(i, j - i)));
    i = j;
  }
  return words;
}

ClipTokenizer::ClipTokenizer(const std::string& merges_path, ClipTokenizerOptions options)
    : path_(merges_path), options_(options) {
  if (options_.context_length < 2)
    throw DataError("CLIP tokenizer context_length must be >= 2 (SOT and EOT), got " +
                    std::to_string(options_.context_length));
  const std::string text = read_gz_text(merges_path);
  std::vector<int> order;
  byte_symbols(byte_symbol_, order);
  vocab_.reserve(kVocabSize);
  for (int b : order) vocab_.push_back(byte_symbol_[b]);
  for (int b : order) vocab_.push_back(byte_symbol_[b] + "</w>");
  // Line 0 is the version header; lines 1..48894 are the merges ("left right").
  size_t pos = text.find('\n');
  int64_t line_no = 1;
  while (pos != std::string::npos && line_no <= kNumMerges) {
    size_t end = text.find('\n', pos + 1);
    std::string line =
        text.substr(pos + 1, end == std::string::npos ? std::string::npos : end - pos - 1);
    if (line.empty() && (end == std::string::npos || end + 1 == text.size()))
      break;  // final newline
    size_t sp = line.find(' ');
    if (sp == std::string::npos || sp == 0 || sp + 1 >= line.size())
      throw DataError("CLIP BPE vocabulary '" + merges_path + "' line " + std::to_string(line_no) +
                      " is not a merge 'left right': '" + line + "'");
    std::string left = line.substr(0, sp), right = line.substr(sp + 1);
    merge_rank_.emplace(left + " " + right, line_no - 1);
    vocab_.push_back(left + right);
    ++line_no;
    pos = end;
  }
  if (line_no <= kNumMerges)
    throw DataError("CLIP BPE vocabulary '" + merges_path + "' has only " +
                        std::to_string(line_no - 1) + " merges, expected " +
                        std::to_string(kNumMerges),
                    "use the original bpe_simple_vocab_16e6.txt.gz");
  vocab_.emplace_back("<|startoftext|>");
  vocab_.emplace_back("<|endoftext|>");
  for (size_t id = 0; id < vocab_.size(); ++id) ids_.emplace(vocab_[id], static_cast<int64_t>(id));
  cache_.emplace("<|startoftext|>", std::vector<std::string>{"<|startoftext|>"});
  cache_.emplace("<|endoftext|>", std::vector<std::string>{"<|endoftext|>"});
}

ClipTokenizer::~ClipTokenizer() = default;

std::vector<std::string> ClipTokenizer::bpe(const std::string& word) const {
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = cache_.find(word);
    if (it != cache_.end()) return it->second;
  }
  // Split into symbols (UTF-8 code points of the byte-symbol string), last one with "</w>".
  std::vector<std::string> parts;
  for (size_t i = 0; i < word.size();) {
    auto b = static_cast<unsigned char>(word[i]);
    size_t len = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
    parts.push_back(word.substr(i, len));
    i += len;
  }
  if (!parts.empty()) parts.back() += "</w>";
  // Repeatedly merge every occurrence of the lowest-ranked adjacent pair.
  while (parts.size() > 1) {
    int64_t best = INT64_MAX;
    std::string best_l, best_r;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      auto it = merge_rank_.find(parts[i] + " " + parts[i + 1]);
      if (it != merge_rank_.end() && it->second < best) {
        best = it->second;
        best_l = parts[i];
        best_r = parts[i + 1];
      }
    }
    if (best == INT64_MAX) break;
    std::vector<std::string> merged;
    merged.reserve(parts.size());
    for (size_t i = 0; i < parts.size();) {
      if (i + 1 < parts.size() && parts[i] == best_l && parts[i + 1] == best_r) {
        merged.push_back(best_l + best_r);
        i += 2;
      } else {
        merged.push_back(parts[i]);
        i += 1;
      }
    }
    parts = std::move(merged);
  }
  std::lock_guard<std::mutex> lock(cache_mutex_);
  cache_.emplace(word, parts);
  return parts;
}

std::vector<int64_t> ClipTokenizer::encode(const std::string& text) const {
  std::vector<int64_t> ids;
  for (const std::string& word : clip_pretokenize(clip_clean_text(text))) {
    std::string symbols;
    if (word == "<|startoftext|>" || word == "<|endoftext|>") {
      symbols = word;  // printable ASCII: its byte symbols are itself; the cache maps it whole
    } else {
      for (unsigned char b : word) symbols += byte_symbol_[b];
    }
    for (const std::string& piece : bpe(symbols)) {
      auto it = ids_.find(piece);
      if (it == ids_.end())  // cannot happen with a well-formed vocabulary file
        throw DataError("CLIP BPE: piece '" + piece + "' of '" + text +
                        "' is not in the vocabulary '" + path_ + "'");
      ids.push_back(it->second);
    }
  }
  return ids;
}

std::vector<int64_t> ClipTokenizer::tokenize(const std::string& text) const {
  const auto ctx = static_cast<size_t>(options_.context_length);
  std::vector<int64_t> seq{kSotId};
  std::vector<int64_t> body = encode(text);
  seq.insert(seq.end(), body.begin(), body.end());
  if (options_.reference_truncation) {
    seq.push_back(kEotId);
    if (seq.size() > ctx) seq.resize(ctx);
  } else {
    if (seq.size() > ctx - 1) seq.resize(ctx - 1);
    seq.push_back(kEotId);
  }
  seq.resize(ctx, 0);
  return seq;
}

at::Tensor ClipTokenizer::tokenize(const std::vector<std::string>& texts) const {
  const int64_t n = static_cast<int64_t>(texts.size());
  at::Tensor out = at::zeros({n, options_.context_length}, at::kLong);
  auto acc = out.accessor<int64_t, 2>();
  for (int64_t i = 0; i < n; ++i) {
    std::vector<int64_t> ids = tokenize(texts[static_cast<size_t>(i)]);
    for (int64_t j = 0; j < options_.context_length; ++j) acc[i][j] = ids[static_cast<size_t>(j)];
  }
  return out;
}

std::string ClipTokenizer::token(int64_t id) const {
  if (id < 0 || id >= static_cast<int64_t>(vocab_.size()))
    throw DataError("CLIP token id " + std::to_string(id) + " out of range [0, " +
                    std::to_string(vocab_.size()) + ")");
  return vocab_[static_cast<size_t>(id)];
}

}  // namespace ibllm::data
