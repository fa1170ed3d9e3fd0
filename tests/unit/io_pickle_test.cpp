// The unpickler on hand-made byte strings: opcode coverage beyond what the torch.save fixtures
// exercise, and errors for truncated or hostile input (which must never crash or execute code).
#include <string>

#include "src/core/error.h"
#include "src/io/pickle.h"
#include "tests/support/catch.h"

using ibllm::IoError;
using namespace ibllm::io;
using Kind = PickleValue::Kind;

namespace {

// A string literal with embedded NULs.
template <size_t N>
std::string bytes(const char (&lit)[N]) {
  return std::string(lit, N - 1);
}

PickleRef parse(const std::string& bytes, std::vector<std::string>* warnings = nullptr) {
  UnpicklerHooks hooks;
  hooks.warn = [warnings](const std::string& w) {
    if (warnings) warnings->push_back(w);
  };
  return unpickle(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), hooks, "test.pkl");
}

std::string error_of(const std::string& bytes) {
  try {
    parse(bytes);
  } catch (const IoError& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace

TEST_CASE("unpickler: protocol 2 scalars and containers", "[io]") {
  // pickle.dumps({'a': [1, -2, 3.5], 'b': (True, None)}, protocol=2)
  const std::string p2 = bytes(
      "\x80\x02}q\x00(X\x01\x00\x00\x00" "aq\x01]q\x02(K\x01J\xfe\xff\xff\xffG@\x0c\x00\x00\x00\x00\x00\x00"
      "eX\x01\x00\x00\x00" "bq\x03\x88N\x86q\x04u.");
  const auto v = parse(p2);
  REQUIRE(v->kind == Kind::kDict);
  CHECK(v->repr() == "{'a': [1, -2, 3.5], 'b': (True, None)}");
  CHECK(v->get("a")->items[1]->i == -2);
}

TEST_CASE("unpickler: protocol 4 framing, memoize and stack_global", "[io]") {
  // pickle.dumps(collections.OrderedDict(x=b'\x01'), protocol=4)
  const std::string p4 = bytes(
      "\x80\x04\x95+\x00\x00\x00\x00\x00\x00\x00\x8c\x0b""collections\x94\x8c\x0bOrderedDict\x94\x93\x94)R\x94"
      "\x8c\x01x\x94""C\x01\x01\x94s.");
  const auto v = parse(p4);
  REQUIRE(v->kind == Kind::kDict);
  CHECK(v->str == "collections.OrderedDict");
  CHECK(v->get("x")->kind == Kind::kBytes);
  CHECK(v->get("x")->str == "\x01");
}

TEST_CASE("unpickler: unknown classes become inspectable objects with a warning", "[io]") {
  // pickle.dumps(types.SimpleNamespace(k=1), protocol=2)
  const std::string p = bytes(
      "\x80\x02""ctypes\nSimpleNamespace\nq\x00)Rq\x01}q\x02X\x01\x00\x00\x00kq\x03K\x01sb.");
  std::vector<std::string> warnings;
  const auto v = parse(p, &warnings);
  CHECK(v->kind == Kind::kObject);
  CHECK(v->str == "types.SimpleNamespace");
  CHECK(v->get("k")->i == 1);
  REQUIRE(warnings.size() == 1);
  CHECK_THAT(warnings[0], Catch::Matchers::Contains("types.SimpleNamespace"));
}

TEST_CASE("unpickler: malformed input is rejected with the reason", "[io]") {
  CHECK_THAT(error_of("\x80\x02]"), Catch::Matchers::Contains("truncated"));
  CHECK_THAT(error_of("\x80\x02\xff."), Catch::Matchers::Contains("unknown pickle opcode 0xff"));
  CHECK_THAT(error_of("\x80\x02h\x05."), Catch::Matchers::Contains("memo key 5"));
  CHECK_THAT(error_of("\x80\x02u."), Catch::Matchers::Contains("MARK missing"));
  CHECK_THAT(error_of("\x80\x02K\x01K\x02."), Catch::Matchers::Contains("STOP with 2 values"));
  CHECK_THAT(error_of("\x80\x02Q."), Catch::Matchers::Contains("stack underflow"));
  // A persistent id without a storage loader (data.pkl read outside a zip).
  CHECK_THAT(error_of("\x80\x02K\x01Q."), Catch::Matchers::Contains("persistent id"));
  // Legacy text protocol opcodes are named.
  CHECK_THAT(error_of("S'x'\n."), Catch::Matchers::Contains("protocol 0/1"));
  // Rebuild functions for unsupported tensor kinds name the construct.
  CHECK_THAT(error_of("\x80\x02""ctorch._utils\n_rebuild_qtensor\n)R."),
             Catch::Matchers::Contains("torch._utils._rebuild_qtensor"));
}
