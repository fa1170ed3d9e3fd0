// Typed, strict access to one mapping of a YAML config, without exposing yaml-cpp (models and data
// parse their own structs through this header and never see YAML). Every read records the key as
// known and writes the resolved value (default or given) for write-back; Document::finish() then
// reports every unknown key with "did you mean". All errors carry file:line:col (or the --set
// override that produced the value) and the dotted path, and are collected, never thrown one by one.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ibllm::config {

class DocumentState;  // defined in document.cpp; owns the YAML trees

// Numeric bounds for field(); unset ends are open.
struct Bounds {
  std::optional<double> min;
  std::optional<double> max;
  bool min_exclusive = false;
  bool max_exclusive = false;
  std::string describe() const;  // "[1, 100]", "(0, inf)", ...
  bool contains(double v) const;
};
inline Bounds at_least(double v) { return Bounds{v, std::nullopt, false, false}; }
inline Bounds positive() { return Bounds{0.0, std::nullopt, true, false}; }
inline Bounds between(double lo, double hi) { return Bounds{lo, hi, false, false}; }
inline Bounds unit_interval() { return between(0.0, 1.0); }

class Section {
 public:
  Section(std::shared_ptr<DocumentState> doc, std::vector<std::string> path);

  // Scalars and lists of scalars. Present key: parsed (type/range errors collected; `out` keeps
  // its default on error). Absent key: `out` keeps its default. Both: resolved value recorded.
  void field(const std::string& key, bool& out);
  void field(const std::string& key, int& out, const Bounds& b = {});
  void field(const std::string& key, int64_t& out, const Bounds& b = {});
  void field(const std::string& key, double& out, const Bounds& b = {});
  void field(const std::string& key, float& out, const Bounds& b = {});
  void field(const std::string& key, std::string& out);
  void field(const std::string& key, std::vector<int64_t>& out, const Bounds& b = {});
  void field(const std::string& key, std::vector<double>& out, const Bounds& b = {});
  void field(const std::string& key, std::vector<std::string>& out);

  // One of a fixed set of strings (registry kinds, modes). Unknown value: error listing the choices.
  void choice(const std::string& key, std::string& out, const std::vector<std::string>& allowed);
  template <class E>
  void choice(const std::string& key, E& out, const std::vector<std::pair<std::string, E>>& names) {
    std::vector<std::string> allowed;
    std::string cur;
    for (const auto& [name, value] : names) {
      allowed.push_back(name);
      if (value == out) cur = name;
    }
    choice(key, cur, allowed);
    for (const auto& [name, value] : names)
      if (name == cur) out = value;
  }

  // Nested mapping (absent: an empty section, so its defaults are still resolved and written).
  Section child(const std::string& key);
  // A list of mappings (absent: empty list). Element sections have paths like "data.sources[1]".
  std::vector<Section> children(const std::string& key);
  // Free-form maps (e.g. modality weights): the keys present in this mapping, in file order.
  // Each key must then be read with field()/child() to count as known.
  std::vector<std::string> keys() const;
  bool has(const std::string& key) const;

  // A key that was renamed: when `old_key` is present, one error saying to use `new_key` (and the
  // old key is not reported again as unknown).
  void renamed(const std::string& old_key, const std::string& new_key);
  // A consistency error about `key` (located at the key if present, else at its nearest parent).
  // `key` may be a relative path such as "sources[1].path".
  void fail(const std::string& key, const std::string& message);
  // Dotted path of `key` in this section ("model.llama.dim"); key "" gives the section's own path.
  std::string path(const std::string& key = "") const;

 private:
  std::shared_ptr<DocumentState> doc_;
  std::vector<std::string> path_;
};

}  // namespace ibllm::config
