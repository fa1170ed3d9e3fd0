// A config document: one YAML file plus `--set a.b.c=value` overrides, parsed with positions kept.
// Usage: auto doc = Document::load(path, overrides); X x = parse_x(doc.root()); doc.finish();
// finish() adds unknown-key errors and throws one ConfigError listing every problem.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "src/config/section.h"

namespace ibllm::config {

class Document {
 public:
  // Throws ConfigError for unreadable files, YAML syntax errors and malformed overrides.
  static Document load(const std::string& path, const std::vector<std::string>& overrides = {});
  static Document from_string(const std::string& text, const std::string& name = "<string>",
                              const std::vector<std::string>& overrides = {});

  Section root();
  // Adds an error for every key no parser asked for (with "did you mean" among the keys that were
  // asked for in the same mapping), then throws ConfigError if any error was collected.
  void finish();
  // Number of errors collected so far (finish() not yet called).
  size_t error_count() const;
  // The resolved configuration (every key that was read, with defaults filled in) as YAML.
  // Parsing this text again yields the same resolved text (round-trip stable).
  std::string resolved_yaml() const;
  // Every leaf key a parser asked for, dotted, list indices written `[*]` ("data.sources[*].kind"),
  // sorted: the schema as the parsers walked it (tests/unit/config_docs_test.cpp checks that each
  // one is documented in docs/config.md).
  std::vector<std::string> known_keys() const;
  const std::string& name() const;

 private:
  explicit Document(std::shared_ptr<DocumentState> s) : state_(std::move(s)) {}
  std::shared_ptr<DocumentState> state_;
};

}  // namespace ibllm::config
