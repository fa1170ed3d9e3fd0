// Config system: every error class names file:line:col (or the --set), the dotted path and what
// was expected; errors are collected into one report; overrides; resolved YAML round-trips.
#include "tests/support/catch.h"

#include <string>

#include "src/config/document.h"
#include "src/core/error.h"

using ibllm::ConfigError;
using ibllm::config::Document;
using ibllm::config::Section;

namespace {

struct Demo {
  int64_t dim = 8;
  double lr = 1e-3;
  bool flag = false;
  std::string mode = "a";
  std::string name = "demo";
  std::vector<int64_t> sizes{1, 2};
  struct Item {
    std::string path;
    double weight = 1.0;
  };
  std::vector<Item> items;
  int64_t inner_n = 3;
};

Demo parse_demo(Section s) {
  Demo d;
  s.field("dim", d.dim, ibllm::config::at_least(1));
  s.field("lr", d.lr, ibllm::config::positive());
  s.field("flag", d.flag);
  s.choice("mode", d.mode, {"a", "b", "reference"});
  s.field("name", d.name);
  s.field("sizes", d.sizes, ibllm::config::at_least(0));
  for (auto item : s.children("items")) {
    Demo::Item it;
    item.field("path", it.path);
    item.field("weight", it.weight, ibllm::config::at_least(0));
    if (it.path.empty()) item.fail("path", "every item needs a path");
    d.items.push_back(it);
  }
  auto inner = s.child("inner");
  inner.field("n", d.inner_n, ibllm::config::between(1, 10));
  if (d.dim % 2 != 0) s.fail("dim", "must be even (it is split in two halves)");
  return d;
}

// Parses and returns the ConfigError message ("" if none).
std::string errors_of(const std::string& yaml, const std::vector<std::string>& sets = {}) {
  auto doc = Document::from_string(yaml, "demo.yaml", sets);
  parse_demo(doc.root());
  try {
    doc.finish();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

bool has(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("config: valid document parses with defaults kept", "[config]") {
  auto doc = Document::from_string("dim: 16\nlr: 2.5e-4\nflag: true\nmode: b\n", "demo.yaml");
  Demo d = parse_demo(doc.root());
  REQUIRE_NOTHROW(doc.finish());
  CHECK(d.dim == 16);
  CHECK(d.lr == Approx(2.5e-4));
  CHECK(d.flag);
  CHECK(d.mode == "b");
  CHECK(d.name == "demo");
  CHECK(d.inner_n == 3);
  CHECK(d.sizes == std::vector<int64_t>{1, 2});
}

TEST_CASE("config: unknown key reports file:line:col, path and did-you-mean", "[config]") {
  auto msg = errors_of("dim: 8\nlrr: 0.1\ninner:\n  nn: 2\n");
  INFO(msg);
  CHECK(has(msg, "demo.yaml:2:1: lrr: unknown key 'lrr' (did you mean 'lr'?)"));
  CHECK(has(msg, "demo.yaml:4:3: inner.nn: unknown key 'nn' (did you mean 'n'?)"));
  CHECK(has(msg, "2 problems"));
}

TEST_CASE("config: unknown key far from every known key lists the known keys", "[config]") {
  auto msg = errors_of("zzzzzzzz: 1\n");
  INFO(msg);
  CHECK(has(msg, "unknown key 'zzzzzzzz'; known keys here: dim, lr"));
}

TEST_CASE("config: wrong types are reported, never coerced", "[config]") {
  auto msg = errors_of("dim: \"8\"\nlr: fast\nflag: yes\nsizes: 3\nname: [a]\ninner: 5\n");
  INFO(msg);
  CHECK(has(msg, "demo.yaml:1:6: dim: expected an integer in [1, inf), got \"8\""));
  CHECK(has(msg, "demo.yaml:2:5: lr: expected a number in (0, inf), got fast"));
  CHECK(has(msg, "demo.yaml:3:7: flag: expected true or false, got yes"));
  CHECK(has(msg, "demo.yaml:4:8: sizes: expected a list of integers, got 3"));
  CHECK(has(msg, "demo.yaml:5:7: name: expected a string, got a list"));
  CHECK(has(msg, "demo.yaml:6:8: inner: expected a mapping, got 5"));
  CHECK(has(msg, "6 problems"));
}

TEST_CASE("config: out-of-range values name the range", "[config]") {
  auto msg = errors_of("dim: 0\nlr: 0\nsizes: [1, -2]\ninner:\n  n: 11\n");
  INFO(msg);
  CHECK(has(msg, "demo.yaml:1:6: dim: value 0 is out of range [1, inf)"));
  CHECK(has(msg, "demo.yaml:2:5: lr: value 0 is out of range (0, inf)"));
  CHECK(has(msg, "demo.yaml:3:12: sizes[1]: value -2 is out of range [0, inf)"));
  CHECK(has(msg, "demo.yaml:5:6: inner.n: value 11 is out of range [1, 10]"));
}

TEST_CASE("config: bad choice lists the allowed values with a suggestion", "[config]") {
  auto msg = errors_of("mode: refrence\n");
  INFO(msg);
  CHECK(has(msg, "demo.yaml:1:7: mode: 'refrence' is not one of: a, b, reference (did you mean 'reference'?)"));
}

TEST_CASE("config: inconsistent values and list items are located", "[config]") {
  auto msg = errors_of("dim: 7\nitems:\n  - path: x.tsv\n    weight: 2\n  - weight: 1\n    pth: y\n");
  INFO(msg);
  CHECK(has(msg, "demo.yaml:1:6: dim: must be even"));
  CHECK(has(msg, "demo.yaml:5:5: items[1].path: every item needs a path"));
  CHECK(has(msg, "demo.yaml:6:5: items[1].pth: unknown key 'pth' (did you mean 'path'?)"));
}

TEST_CASE("config: YAML syntax errors carry the position", "[config]") {
  try {
    Document::from_string("dim: 8\nlr: [1, 2\n", "broken.yaml");
    FAIL("expected a ConfigError");
  } catch (const ConfigError& e) {
    std::string m = e.what();
    INFO(m);
    CHECK(has(m, "broken.yaml:"));
    CHECK(has(m, "YAML syntax error"));
  }
  CHECK_THROWS_AS(Document::from_string("- 1\n- 2\n", "list.yaml"), ConfigError);
  CHECK_THROWS_AS(Document::load("/nonexistent/x.yaml"), ConfigError);
}

TEST_CASE("config: --set overrides existing, nested and list entries", "[config]") {
  auto doc = Document::from_string("dim: 8\nitems:\n  - path: a\n", "demo.yaml",
                                    {"dim=32", "inner.n=7", "sizes=[4, 5, 6]", "items[0].weight=0.5",
                                     "mode=reference"});
  Demo d = parse_demo(doc.root());
  REQUIRE_NOTHROW(doc.finish());
  CHECK(d.dim == 32);
  CHECK(d.inner_n == 7);
  CHECK(d.sizes == std::vector<int64_t>{4, 5, 6});
  REQUIRE(d.items.size() == 1);
  CHECK(d.items[0].weight == Approx(0.5));
  CHECK(d.mode == "reference");
}

TEST_CASE("config: --set errors name the override", "[config]") {
  auto msg = errors_of("dim: 8\n", {"inner.nn=3", "lr=-1"});
  INFO(msg);
  CHECK(has(msg, "--set inner.nn=3: inner.nn: unknown key 'nn' (did you mean 'n'?)"));
  CHECK(has(msg, "--set lr=-1: lr: value -1 is out of range (0, inf)"));
  CHECK_THROWS_AS(Document::from_string("dim: 8\n", "d", {"novalue"}), ConfigError);
  CHECK_THROWS_AS(Document::from_string("dim: 8\n", "d", {"dim.x=1"}), ConfigError);
  CHECK_THROWS_AS(Document::from_string("items: []\n", "d", {"items[3].path=x"}), ConfigError);
  CHECK_THROWS_AS(Document::from_string("dim: 8\n", "d", {"lr=[1,"}), ConfigError);
}

TEST_CASE("config: resolved YAML is complete and round-trip stable", "[config]") {
  auto doc = Document::from_string("lr: 3.0e-4\nitems:\n  - path: a.tsv\n    weight: 0.25\n", "demo.yaml",
                                   {"flag=true"});
  Demo d1 = parse_demo(doc.root());
  doc.finish();
  std::string text1 = doc.resolved_yaml();
  INFO(text1);
  CHECK(has(text1, "dim: 8"));      // default written back
  CHECK(has(text1, "flag: true"));  // override written back
  CHECK(has(text1, "n: 3"));        // nested default
  auto doc2 = Document::from_string(text1, "resolved.yaml");
  Demo d2 = parse_demo(doc2.root());
  doc2.finish();
  CHECK(doc2.resolved_yaml() == text1);
  CHECK(d2.lr == d1.lr);
  CHECK(d2.items.size() == 1);
  CHECK(d2.items[0].path == "a.tsv");
  CHECK(d2.sizes == d1.sizes);
}

TEST_CASE("config: doubles survive the round trip bit-exactly", "[config]") {
  auto doc = Document::from_string("lr: 0.1\n", "a.yaml", {"lr=1.2345678901234567e-5"});
  Demo d1 = parse_demo(doc.root());
  doc.finish();
  auto doc2 = Document::from_string(doc.resolved_yaml(), "b.yaml");
  Demo d2 = parse_demo(doc2.root());
  doc2.finish();
  CHECK(d1.lr == d2.lr);
}
