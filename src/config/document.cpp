// Document + Section implementation on yaml-cpp. The only TU family that sees YAML besides the
// CLI's output: positions come from YAML marks (0-based, reported 1-based), override origins from
// the --set text; the resolved tree is built as fields are read so defaults are written back.
#include "src/config/document.h"

#include <fmt/format.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <vector>
#include <type_traits>

#include "src/core/error.h"
#include "src/core/strings.h"

namespace ibllm::config {

namespace {

std::string join_path(const std::vector<std::string>& p) {
  std::string s;
  for (const auto& seg : p) {
    if (!seg.empty() && seg[0] == '[') {
      s += seg;
    } else {
      if (!s.empty()) s += '.';
      s += seg;
    }
  }
  return s;
}

// Splits "a.b[2].c" into {"a", "b", "[2]", "c"}.
std::vector<std::string> split_path(const std::string& dotted) {
  std::vector<std::string> out;
  std::string cur;
  for (size_t i = 0; i < dotted.size(); ++i) {
    char c = dotted[i];
    if (c == '.') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else if (c == '[') {
      if (!cur.empty()) out.push_back(cur);
      cur = "[";
    } else if (c == ']') {
      cur += ']';
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

bool is_index(const std::string& seg) { return !seg.empty() && seg[0] == '['; }
size_t index_of(const std::string& seg) { return std::stoul(seg.substr(1, seg.size() - 2)); }

// A mapping key as text; false for keys YAML allows but a config cannot use (`? [a, b]: 1`,
// `~: 1`), which check_unknown reports and every other reader skips.
bool key_text(const YAML::Node& key, std::string& out) {
  if (!key.IsScalar()) return false;
  out = key.Scalar();
  return true;
}

const char* kind_name(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null: return "null";
    case YAML::NodeType::Scalar: return "scalar";
    case YAML::NodeType::Sequence: return "list";
    case YAML::NodeType::Map: return "mapping";
    default: return "undefined";
  }
}

}  // namespace

struct ErrorEntry {
  int line = -1;  // 1-based; -1 for overrides / unknown position
  int col = -1;
  std::string text;
};

class DocumentState {
 public:
  std::string name;
  YAML::Node root;
  YAML::Node resolved = YAML::Node(YAML::NodeType::Map);
  std::vector<std::pair<std::vector<std::string>, std::string>> overrides;  // path, origin text
  std::map<std::string, std::vector<std::string>> known;                    // path -> keys asked
  std::vector<ErrorEntry> errors;

  // Node at path in the input tree, or an invalid/undefined node.
  bool lookup(const std::vector<std::string>& path, YAML::Node& out) const {
    YAML::Node cur;
    cur.reset(root);  // reset() rebinds; plain assignment would write into the tree
    for (const auto& seg : path) {
      if (is_index(seg)) {
        if (!cur.IsSequence()) return false;
        size_t i = index_of(seg);
        if (i >= cur.size()) return false;
        const YAML::Node& c = cur;
        YAML::Node next = c[i];
        cur.reset(next);
      } else {
        if (!cur.IsMap()) return false;
        const YAML::Node& c = cur;
        YAML::Node next = c[seg];
        if (!next.IsDefined()) return false;
        cur.reset(next);
      }
    }
    out.reset(cur);
    return true;
  }

  // Where to point the user for `path`: the --set that produced it, or file:line:col.
  void locate(const std::vector<std::string>& path, ErrorEntry& e) const {
    for (const auto& [opath, origin] : overrides) {
      if (opath.size() <= path.size() && std::equal(opath.begin(), opath.end(), path.begin())) {
        e.text = origin + ": ";
        return;
      }
    }
    std::vector<std::string> p = path;
    YAML::Node n;
    while (true) {
      if (!p.empty() && lookup(p, n) && n.Mark().line >= 0) {  // the root's 1:1 says nothing
        e.line = n.Mark().line + 1;
        e.col = n.Mark().column + 1;
        e.text = fmt::format("{}:{}:{}: ", name, e.line, e.col);
        return;
      }
      if (p.empty()) break;
      p.pop_back();
    }
    e.text = name + ": ";
  }

  void add_error(const std::vector<std::string>& path, const std::string& message) {
    ErrorEntry e;
    locate(path, e);
    e.text += (path.empty() ? std::string("<root>") : join_path(path)) + ": " + message;
    errors.push_back(std::move(e));
  }

  void note_known(const std::vector<std::string>& section, const std::string& key) {
    auto& v = known[join_path(section)];
    if (std::find(v.begin(), v.end(), key) == v.end()) v.push_back(key);
  }

  // Resolved-tree node for a section path, created on demand.
  YAML::Node resolved_at(const std::vector<std::string>& path) {
    YAML::Node cur;
    cur.reset(resolved);
    for (const auto& seg : path) {
      YAML::Node next;
      if (is_index(seg)) {
        next.reset(cur[index_of(seg)]);
      } else {
        next.reset(cur[seg]);
      }
      cur.reset(next);
    }
    return cur;
  }

  void check_unknown(const YAML::Node& node, std::vector<std::string>& path) {
    if (node.IsMap()) {
      std::string p = join_path(path);
      auto it = known.find(p);
      if (it == known.end()) return;  // whole mapping unknown: reported at its parent key
      for (const auto& kv : node) {
        std::string key;
        if (!key_text(kv.first, key)) {
          ErrorEntry e;
          locate(path, e);
          if (kv.first.Mark().line >= 0) {
            e.line = kv.first.Mark().line + 1;
            e.col = kv.first.Mark().column + 1;
            e.text = fmt::format("{}:{}:{}: ", name, e.line, e.col);
          }
          e.text += (path.empty() ? std::string("<root>") : join_path(path)) + ": a key is a " +
                    kind_name(kv.first) + "; config keys are plain strings";
          errors.push_back(std::move(e));
          continue;
        }
        path.push_back(key);
        if (std::find(it->second.begin(), it->second.end(), key) == it->second.end()) {
          std::string msg = "unknown key '" + key + "'";
          std::string near = core::closest_match(key, it->second);
          if (!near.empty()) msg += " (did you mean '" + near + "'?)";
          else if (!it->second.empty()) msg += "; known keys here: " + core::join(it->second, ", ");
          ErrorEntry e;
          locate(path, e);
          if (e.line >= 0 && kv.first.Mark().line >= 0) {  // point at the key, not its value
            e.line = kv.first.Mark().line + 1;
            e.col = kv.first.Mark().column + 1;
            e.text = fmt::format("{}:{}:{}: ", name, e.line, e.col);
          }
          e.text += join_path(path) + ": " + msg;
          errors.push_back(std::move(e));
        } else {
          check_unknown(kv.second, path);
        }
        path.pop_back();
      }
    } else if (node.IsSequence()) {
      for (size_t i = 0; i < node.size(); ++i) {
        path.push_back("[" + std::to_string(i) + "]");
        check_unknown(node[i], path);
        path.pop_back();
      }
    }
  }
};

namespace {

void apply_override(DocumentState& s, const std::string& text) {
  auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError("--set " + text + ": expected key.path=value",
                      "example: --set optim.lr=1e-4");
  std::string key = text.substr(0, eq);
  std::string value = text.substr(eq + 1);
  std::vector<std::string> path = split_path(key);
  // The path is user text: every segment a key or a "[N]" index (index_of trusts its input).
  for (const auto& seg : path) {
    const bool index_ok = seg.size() >= 3 && seg.size() <= 12 && seg.front() == '[' &&
                          seg.back() == ']' &&
                          seg.find_first_not_of("0123456789", 1) == seg.size() - 1;
    const bool key_ok = !seg.empty() && seg.find_first_of("[]") == std::string::npos;
    if (!(is_index(seg) ? index_ok : key_ok))
      throw ConfigError("--set " + text + ": '" + seg + "' in '" + key +
                            "' is neither a key nor a list index [N]",
                        "example: --set data.sources[0].weight=0.5");
  }
  YAML::Node val;
  try {
    val = YAML::Load(value);
  } catch (const YAML::Exception& e) {
    throw ConfigError("--set " + text + ": value is not valid YAML: " + e.msg);
  }
  if (!s.root.IsDefined() || s.root.IsNull()) s.root = YAML::Node(YAML::NodeType::Map);
  YAML::Node cur;
  cur.reset(s.root);
  for (size_t i = 0; i < path.size(); ++i) {
    const auto& seg = path[i];
    bool last = i + 1 == path.size();
    if (is_index(seg)) {
      size_t idx = index_of(seg);
      if (!cur.IsSequence() || idx >= cur.size())
        throw ConfigError("--set " + text + ": " + join_path({path.begin(), path.begin() + i + 1}) +
                          " does not exist (index out of range or not a list)");
      if (last) {
        cur[idx] = val;
      } else {
        YAML::Node next;
        next.reset(cur[idx]);
        cur.reset(next);
      }
    } else {
      if (!cur.IsMap() && !cur.IsNull())
        throw ConfigError("--set " + text + ": " + join_path({path.begin(), path.begin() + i}) +
                          " is a " + kind_name(cur) + ", not a mapping");
      if (last) {
        cur[seg] = val;
      } else {
        YAML::Node next;
        next.reset(cur[seg]);
        if (!next.IsDefined() || next.IsNull()) {
          cur[seg] = YAML::Node(YAML::NodeType::Map);
          next.reset(cur[seg]);
        }
        cur.reset(next);
      }
    }
  }
  s.overrides.emplace_back(path, "--set " + text);
}

// Anchors and aliases share subtrees, so a small file can stand for a tree of 10^9 values ("billion
// laughs": ten aliases of ten aliases ...), which every walk over the config (checks, resolution)
// would visit. The expanded size is counted (stopping at the limit) before anything walks it.
constexpr size_t kMaxConfigValues = 200000;  // a 7B config has a few hundred

void check_expanded_size(const YAML::Node& root, const std::string& name) {
  size_t seen = 0;
  std::vector<YAML::Node> todo{root};
  while (!todo.empty()) {
    const YAML::Node n = todo.back();
    todo.pop_back();
    if (++seen > kMaxConfigValues)
      throw ConfigError(name + ": the config expands to more than " +
                            std::to_string(kMaxConfigValues) +
                            " values through anchors and aliases (*name repeats a whole subtree)",
                        "write the repeated parts out, or use fewer nested aliases");
    if (n.IsMap()) {
      for (const auto& kv : n) {
        todo.push_back(kv.first);
        todo.push_back(kv.second);
      }
    } else if (n.IsSequence()) {
      for (const auto& x : n) todo.push_back(x);
    }
  }
}

}  // namespace

Document Document::load(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path);
  if (!in)
    throw ConfigError("cannot open config file '" + path + "'",
                      "check the path; shipped presets live in configs/");
  std::stringstream ss;
  ss << in.rdbuf();
  return from_string(ss.str(), path, overrides);
}

Document Document::from_string(const std::string& text, const std::string& name,
                               const std::vector<std::string>& overrides) {
  auto s = std::make_shared<DocumentState>();
  s->name = name;
  try {
    s->root = YAML::Load(text);
  } catch (const YAML::DeepRecursion& e) {
    throw ConfigError(fmt::format("{}:{}:{}: the YAML nests more than {} levels deep", name,
                                  e.mark.line + 1, e.mark.column + 1, e.depth() - 1),
                      "a config nests a few levels; check the brackets and the indentation");
  } catch (const YAML::Exception& e) {
    throw ConfigError(fmt::format("{}:{}:{}: YAML syntax error: {}", name, e.mark.line + 1,
                                  e.mark.column + 1, e.msg));
  }
  for (const auto& o : overrides) apply_override(*s, o);
  check_expanded_size(s->root, name);
  if (!s->root.IsDefined() || s->root.IsNull()) s->root = YAML::Node(YAML::NodeType::Map);
  if (!s->root.IsMap())
    throw ConfigError(s->name + ": the top level of a config must be a mapping, got a " +
                      kind_name(s->root));
  return Document(std::move(s));
}

Section Document::root() { return Section(state_, {}); }

size_t Document::error_count() const { return state_->errors.size(); }

const std::string& Document::name() const { return state_->name; }

void Document::finish() {
  std::vector<std::string> path;
  state_->known[""];  // the root mapping is always "asked"
  state_->check_unknown(state_->root, path);
  auto& errs = state_->errors;
  if (errs.empty()) return;
  std::stable_sort(errs.begin(), errs.end(), [](const ErrorEntry& a, const ErrorEntry& b) {
    if ((a.line < 0) != (b.line < 0)) return a.line >= 0;
    return a.line < b.line || (a.line == b.line && a.col < b.col);
  });
  std::string msg = fmt::format("{} problem{} in {}:", errs.size(), errs.size() == 1 ? "" : "s",
                                state_->name);
  for (const auto& e : errs) msg += "\n  " + e.text;
  errs.clear();
  throw ConfigError(msg, "fix every line above; `ibllm check-config <yaml>` re-checks without running");
}

std::string Document::resolved_yaml() const {
  YAML::Emitter out;
  out.SetIndent(2);
  out << state_->resolved;
  return std::string(out.c_str()) + "\n";
}

std::vector<std::string> Document::known_keys() const {
  std::set<std::string> all;
  for (const auto& [path, keys] : state_->known) {
    std::string p;
    for (size_t i = 0; i < path.size(); ++i) {  // "[3]" -> "[*]"
      if (path[i] == '[') {
        const size_t close = path.find(']', i);
        p += "[*]";
        i = close == std::string::npos ? path.size() : close;
      } else {
        p += path[i];
      }
    }
    for (const auto& k : keys) all.insert(p.empty() ? k : p + "." + k);
  }
  std::vector<std::string> leaves;
  for (const auto& k : all) {  // a key that holds other keys is a section, not a leaf
    auto has_child = [&](const std::string& prefix) {
      auto it = all.lower_bound(prefix);
      return it != all.end() && it->compare(0, prefix.size(), prefix) == 0;
    };
    if (!has_child(k + ".") && !has_child(k + "[")) leaves.push_back(k);
  }
  return leaves;
}

// ------------------------------------------------------------------------------------ Section

std::string Bounds::describe() const {
  auto num = [](double v) { return fmt::format("{}", v); };
  std::string lo = min ? num(*min) : "-inf";
  std::string hi = max ? num(*max) : "inf";
  return std::string(min && !min_exclusive ? "[" : "(") + lo + ", " + hi +
         (max && !max_exclusive ? "]" : ")");
}

bool Bounds::contains(double v) const {
  if (std::isnan(v)) return false;
  if (min && (min_exclusive ? v <= *min : v < *min)) return false;
  if (max && (max_exclusive ? v >= *max : v > *max)) return false;
  return true;
}

Section::Section(std::shared_ptr<DocumentState> doc, std::vector<std::string> path)
    : doc_(std::move(doc)), path_(std::move(path)) {}

std::string Section::path(const std::string& key) const {
  auto p = path_;
  if (!key.empty()) p.push_back(key);
  return join_path(p);
}

bool Section::has(const std::string& key) const {
  auto p = path_;
  p.push_back(key);
  YAML::Node n;
  return doc_->lookup(p, n);
}

std::vector<std::string> Section::keys() const {
  std::vector<std::string> out;
  YAML::Node n;
  std::string key;
  if (doc_->lookup(path_, n) && n.IsMap())
    for (const auto& kv : n)
      if (key_text(kv.first, key)) out.push_back(key);
  return out;
}

void Section::renamed(const std::string& old_key, const std::string& new_key) {
  if (!has(old_key)) return;
  doc_->note_known(path_, old_key);
  fail(old_key, "renamed to " + new_key + " (same meaning); rename the key");
}

void Section::fail(const std::string& key, const std::string& message) {
  auto p = path_;
  for (const auto& seg : split_path(key)) p.push_back(seg);  // "sources[1].path" is allowed
  doc_->add_error(p, message);
}

namespace {

// Scalar conversion helpers: strict, no silent coercion (a quoted "3" is not a number).
bool plain_scalar(const YAML::Node& n) { return n.IsScalar() && n.Tag() != "!"; }

std::optional<int64_t> parse_int(const YAML::Node& n) {
  if (!plain_scalar(n)) return std::nullopt;
  const std::string& s = n.Scalar();
  if (s.empty()) return std::nullopt;
  size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i == s.size()) return std::nullopt;
  for (size_t j = i; j < s.size(); ++j)
    if (s[j] != '_' && (s[j] < '0' || s[j] > '9')) return std::nullopt;
  std::string digits;
  for (char c : s)
    if (c != '_') digits += c;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(digits.c_str(), &end, 10);
  if (errno == ERANGE || *end != '\0') return std::nullopt;
  return static_cast<int64_t>(v);
}

std::optional<double> parse_double(const YAML::Node& n) {
  if (!plain_scalar(n)) return std::nullopt;
  std::string s = n.Scalar();
  if (s == ".inf" || s == "+.inf" || s == ".Inf") return HUGE_VAL;
  if (s == "-.inf" || s == "-.Inf") return -HUGE_VAL;
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (*end != '\0' || errno == ERANGE || std::isnan(v)) return std::nullopt;
  // strtod accepts "inf"/"nan"/hex; YAML numbers here are decimal only.
  for (char c : s)
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == 'E' ||
          c == '-' || c == '+'))
      return std::nullopt;
  return v;
}

std::optional<bool> parse_bool(const YAML::Node& n) {
  if (!plain_scalar(n)) return std::nullopt;
  const std::string& s = n.Scalar();
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  return std::nullopt;
}

std::string shown(const YAML::Node& n) {
  if (n.IsScalar()) return n.Tag() == "!" ? "\"" + n.Scalar() + "\"" : n.Scalar();
  return std::string("a ") + kind_name(n);
}

std::string fmt_double(double v) { return fmt::format("{}", v); }

template <class V>
bool in_bounds(const Bounds& b, const V& v) {
  if constexpr (std::is_arithmetic_v<V>) {
    return b.contains(static_cast<double>(v));
  } else {
    return true;
  }
}

}  // namespace

// Common body of the scalar field() overloads: look up, convert, range-check, record resolved.
template <class T, class Conv, class Emit>
static void scalar_field(DocumentState& d, const std::vector<std::string>& sec, const std::string& key,
                         T& out, const char* expected, const Bounds* b, Conv conv, Emit emit) {
  d.note_known(sec, key);
  auto p = sec;
  p.push_back(key);
  YAML::Node n;
  if (d.lookup(p, n)) {
    auto v = conv(n);
    if (!v) {
      d.add_error(p, std::string("expected ") + expected +
                         (b && (b->min || b->max) ? " in " + b->describe() : "") + ", got " +
                         shown(n));
    } else if (b && !in_bounds(*b, *v)) {
      d.add_error(p, std::string("value ") + shown(n) + " is out of range " + b->describe());
    } else {
      out = static_cast<T>(*v);
    }
  }
  d.resolved_at(sec)[key] = emit(out);
}

void Section::field(const std::string& key, bool& out) {
  scalar_field(*doc_, path_, key, out, "true or false", nullptr, parse_bool,
               [](bool v) { return v ? "true" : "false"; });
}

void Section::field(const std::string& key, int64_t& out, const Bounds& b) {
  scalar_field(*doc_, path_, key, out, "an integer", &b, parse_int,
               [](int64_t v) { return std::to_string(v); });
}

void Section::field(const std::string& key, int& out, const Bounds& b) {
  Bounds bb = b;
  if (!bb.min) bb.min = static_cast<double>(std::numeric_limits<int>::min());
  if (!bb.max) bb.max = static_cast<double>(std::numeric_limits<int>::max());
  scalar_field(*doc_, path_, key, out, "an integer", &bb, parse_int,
               [](int v) { return std::to_string(v); });
}

void Section::field(const std::string& key, double& out, const Bounds& b) {
  scalar_field(*doc_, path_, key, out, "a number", &b, parse_double, fmt_double);
}

void Section::field(const std::string& key, float& out, const Bounds& b) {
  scalar_field(*doc_, path_, key, out, "a number", &b, parse_double,
               [](float v) { return fmt::format("{}", v); });
}

void Section::field(const std::string& key, std::string& out) {
  scalar_field(*doc_, path_, key, out, "a string", nullptr,
               [](const YAML::Node& n) -> std::optional<std::string> {
                 if (!n.IsScalar()) return std::nullopt;
                 return n.Scalar();
               },
               [](const std::string& v) { return v; });
}

template <class T, class Conv, class Emit>
static void list_field(DocumentState& d, const std::vector<std::string>& sec, const std::string& key,
                       std::vector<T>& out, const char* expected, const Bounds* b, Conv conv,
                       Emit emit) {
  d.note_known(sec, key);
  auto p = sec;
  p.push_back(key);
  YAML::Node n;
  if (d.lookup(p, n)) {
    if (!n.IsSequence()) {
      d.add_error(p, std::string("expected a list of ") + expected + ", got " + shown(n));
    } else {
      std::vector<T> vals;
      bool ok = true;
      for (size_t i = 0; i < n.size(); ++i) {
        auto ep = p;
        ep.push_back("[" + std::to_string(i) + "]");
        auto v = conv(n[i]);
        if (!v) {
          d.add_error(ep, std::string("expected ") + expected + ", got " + shown(n[i]));
          ok = false;
        } else if (b && !in_bounds(*b, *v)) {
          d.add_error(ep, "value " + shown(n[i]) + " is out of range " + b->describe());
          ok = false;
        } else {
          vals.push_back(static_cast<T>(*v));
        }
      }
      if (ok) out = std::move(vals);
    }
  }
  YAML::Node seq(YAML::NodeType::Sequence);
  for (const auto& v : out) seq.push_back(emit(v));
  seq.SetStyle(YAML::EmitterStyle::Flow);
  d.resolved_at(sec)[key] = seq;
}

void Section::field(const std::string& key, std::vector<int64_t>& out, const Bounds& b) {
  list_field(*doc_, path_, key, out, "integers", &b, parse_int,
             [](int64_t v) { return std::to_string(v); });
}

void Section::field(const std::string& key, std::vector<double>& out, const Bounds& b) {
  list_field(*doc_, path_, key, out, "numbers", &b, parse_double, fmt_double);
}

void Section::field(const std::string& key, std::vector<std::string>& out) {
  list_field(*doc_, path_, key, out, "strings", nullptr,
             [](const YAML::Node& n) -> std::optional<std::string> {
               if (!n.IsScalar()) return std::nullopt;
               return n.Scalar();
             },
             [](const std::string& v) { return v; });
}

void Section::choice(const std::string& key, std::string& out,
                     const std::vector<std::string>& allowed) {
  std::string v = out;
  size_t before = doc_->errors.size();
  field(key, v);
  if (doc_->errors.size() != before) return;
  if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
    std::string msg = "'" + v + "' is not one of: " + core::join(allowed, ", ");
    std::string near = core::closest_match(v, allowed);
    if (!near.empty()) msg += " (did you mean '" + near + "'?)";
    fail(key, msg);
    doc_->resolved_at(path_)[key] = out;
    return;
  }
  out = v;
}

Section Section::child(const std::string& key) {
  doc_->note_known(path_, key);
  auto p = path_;
  p.push_back(key);
  YAML::Node n;
  if (doc_->lookup(p, n) && !n.IsMap() && !n.IsNull()) {
    doc_->add_error(p, std::string("expected a mapping, got ") + shown(n));
  }
  doc_->known[join_path(p)];  // mark as a section so unknown keys inside are reported
  auto r = doc_->resolved_at(path_);
  if (!r[key].IsMap()) r[key] = YAML::Node(YAML::NodeType::Map);
  return Section(doc_, p);
}

std::vector<Section> Section::children(const std::string& key) {
  doc_->note_known(path_, key);
  auto p = path_;
  p.push_back(key);
  std::vector<Section> out;
  YAML::Node n;
  YAML::Node seq(YAML::NodeType::Sequence);
  if (doc_->lookup(p, n)) {
    if (!n.IsSequence()) {
      doc_->add_error(p, std::string("expected a list of mappings, got ") + shown(n));
    } else {
      for (size_t i = 0; i < n.size(); ++i) {
        auto ep = p;
        ep.push_back("[" + std::to_string(i) + "]");
        seq.push_back(YAML::Node(YAML::NodeType::Map));
        if (!n[i].IsMap()) {
          doc_->add_error(ep, std::string("expected a mapping, got ") + shown(n[i]));
          continue;
        }
        doc_->known[join_path(ep)];
        out.emplace_back(doc_, ep);
      }
    }
  }
  doc_->resolved_at(path_)[key] = seq;
  return out;
}

}  // namespace ibllm::config
