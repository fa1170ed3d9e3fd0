// safetensors: bitwise round trips for every dtype, the byte layout our writer produces, zero-copy
// aliasing of the mapping, sharded checkpoints, and rejection of malformed files with messages that
// name the file and the tensor at fault.
#include <ATen/ATen.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "src/core/error.h"
#include "src/io/safetensors.h"
#include "src/io/weights_reader.h"
#include "tests/support/catch.h"
#include "tests/support/paths.h"

namespace fs = std::filesystem;
using ibllm::IoError;
using namespace ibllm::io;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Raw bytes of a tensor (contiguous CPU), for bitwise comparisons that also cover NaN payloads.
std::string bytes_of(const at::Tensor& t) {
  auto c = t.contiguous();
  return std::string(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
}

// A file from a raw header string and buffer, for the malformed-file cases.
fs::path write_raw(const fs::path& dir, const std::string& name, const std::string& header,
                   const std::string& buffer, c10::optional<uint64_t> length = c10::nullopt) {
  const fs::path p = dir / name;
  std::ofstream out(p, std::ios::binary);
  const uint64_t n = length.value_or(header.size());
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
  out << header << buffer;
  return p;
}

std::string open_error(const fs::path& p) {
  try {
    SafetensorsFile f(p.string());
  } catch (const IoError& e) {
    return e.what();
  }
  return "<no error>";
}

std::map<std::string, at::Tensor> every_dtype() {
  at::manual_seed(3);
  // Random bytes reinterpreted per dtype, so floats include NaN/Inf bit patterns (bitwise test).
  auto raw = [](int64_t n) { return at::randint(0, 256, {n}, at::kByte); };
  return {
      {"f64", raw(6 * 8).view(at::kDouble).reshape({2, 3})},
      {"f32", raw(5 * 4).view(at::kFloat)},
      {"f16", raw(7 * 2).view(at::kHalf)},
      {"bf16", raw(3 * 2).view(at::kBFloat16).reshape({3, 1})},
      {"i64", at::tensor({INT64_MIN, int64_t{-1}, INT64_MAX}, at::kLong)},
      {"i32", at::tensor({INT32_MIN, 0, INT32_MAX}, at::kInt)},
      {"i16", at::tensor({-32768, 32767}, at::kShort)},
      {"i8", at::tensor({-128, 0, 127}, at::kChar)},
      {"u8", raw(9).reshape({3, 3})},
      {"bool", at::tensor({1, 0, 1}, at::kByte).to(at::kBool)},
      {"scalar", at::scalar_tensor(2.5, at::kFloat)},
      {"empty", at::empty({0, 4}, at::kHalf)},
  };
}

}  // namespace

TEST_CASE("safetensors round trip is bitwise for every dtype, with metadata", "[io]") {
  const auto dir = ibllm::test::scratch_dir("io_st_roundtrip");
  const auto tensors = every_dtype();
  const std::map<std::string, std::string> meta{{"format", "pt"}, {"note", "ü ✓"}};
  write_safetensors((dir / "a.safetensors").string(), tensors, meta);

  SafetensorsFile f((dir / "a.safetensors").string());
  CHECK(f.metadata() == meta);
  CHECK(f.names().size() == tensors.size());
  const auto back = read_safetensors((dir / "a.safetensors").string());
  REQUIRE(back.size() == tensors.size());
  for (const auto& [name, t] : tensors) {
    INFO(name);
    const auto& b = back.at(name);
    CHECK(b.scalar_type() == t.scalar_type());
    CHECK(b.sizes() == t.sizes());
    CHECK(bytes_of(b) == bytes_of(t));
  }
  CHECK_FALSE(fs::exists(dir / "a.safetensors.tmp"));
}

TEST_CASE("safetensors writer: non-contiguous input and the reference byte layout", "[io]") {
  const auto dir = ibllm::test::scratch_dir("io_st_layout");
  auto base = at::arange(12, at::kFloat).reshape({3, 4});
  std::map<std::string, at::Tensor> tensors{
      {"t", base.t()},                  // non-contiguous
      {"h", at::arange(3, at::kHalf)},  // odd count of 2-byte items
      {"d", at::arange(2, at::kDouble)},
      {"b", at::tensor({1, 0, 1}, at::kByte).to(at::kBool)},
  };
  const auto path = dir / "l.safetensors";
  write_safetensors(path.string(), tensors);
  const std::string file = slurp(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(file[i]);
  CHECK(n % 8 == 0);  // header padded so the buffer starts 8-aligned
  REQUIRE(8 + n <= file.size());
  const std::string header = file.substr(8, n);
  CHECK(header.front() == '{');
  CHECK(header.find_last_not_of(' ') == header.rfind('}'));  // padding is trailing spaces
  const auto j = nlohmann::json::parse(header);
  // Data order: element size descending, then name: d(8) t(4) h(2) b(1), contiguous from 0.
  CHECK(j["d"]["data_offsets"] == nlohmann::json::array({0, 16}));
  CHECK(j["t"]["data_offsets"] == nlohmann::json::array({16, 64}));
  CHECK(j["h"]["data_offsets"] == nlohmann::json::array({64, 70}));
  CHECK(j["b"]["data_offsets"] == nlohmann::json::array({70, 73}));
  CHECK(j["t"]["shape"] == nlohmann::json::array({4, 3}));
  CHECK(j["t"]["dtype"] == "F32");
  CHECK(j["b"]["dtype"] == "BOOL");
  CHECK(file.size() == 8 + n + 73);
  const std::string buffer = file.substr(8 + n);
  CHECK(buffer.substr(16, 48) == bytes_of(base.t().contiguous()));
  CHECK(buffer.substr(70, 3) == std::string("\x01\x00\x01", 3));
}

TEST_CASE("safetensors reads alias the mapping (zero copy) and keep it alive", "[io]") {
  const auto dir = ibllm::test::scratch_dir("io_st_mmap");
  const auto path = (dir / "m.safetensors").string();
  write_safetensors(path, {{"a", at::arange(1000, at::kFloat)}, {"b", at::ones({7}, at::kHalf)}});
  at::Tensor a;
  {
    SafetensorsFile f(path);
    a = f.tensor("a");
    const auto& e = f.entry("a");
    CHECK(static_cast<const uint8_t*>(a.data_ptr()) == f.buffer() + e.begin);
    auto again = f.tensor("a");
    CHECK(again.data_ptr() == a.data_ptr());  // both views of the same mapped bytes
  }
  // The file object is gone; the tensor still owns the mapping.
  CHECK(a[999].item<float>() == 999.0f);
  // Private (copy-on-write) mapping: writing to a loaded tensor never changes the file.
  a.fill_(-1);
  CHECK(read_safetensors(path).at("a")[5].item<float>() == 5.0f);
}

TEST_CASE("safetensors reads files written by the Python fixture writer", "[io]") {
  const auto p =
      ibllm::test::source_dir() / "tests/golden/fixtures/io/pth_dtypes.expected.safetensors";
  const auto t = read_safetensors(p.string());
  REQUIRE(t.size() == 12);
  CHECK(t.at("bf16").scalar_type() == at::kBFloat16);
  CHECK(t.at("bool").scalar_type() == at::kBool);
  CHECK(t.at("i64")[1][2].item<int64_t>() == (int64_t{1} << 62));
  CHECK(t.at("u8")[1].item<uint8_t>() == 200);
  CHECK(t.at("scalar").dim() == 0);
  CHECK(t.at("scalar").item<float>() == 3.25f);
  CHECK(t.at("empty").sizes() == at::IntArrayRef({0, 4}));
}

TEST_CASE("safetensors rejects malformed files naming file and tensor", "[io]") {
  const auto dir = ibllm::test::scratch_dir("io_st_bad");
  const std::string ok_entry = R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::string buf8(8, '\0');

  SECTION("shorter than the length prefix") {
    const auto p = dir / "tiny.safetensors";
    std::ofstream(p, std::ios::binary) << "abc";
    const auto msg = open_error(p);
    CHECK_THAT(msg, Catch::Matchers::Contains("tiny.safetensors") &&
                        Catch::Matchers::Contains("truncated"));
  }
  SECTION("huge header length") {
    const auto msg = open_error(write_raw(dir, "huge.safetensors", "{}", "", 200'000'000));
    CHECK_THAT(
        msg, Catch::Matchers::Contains("huge.safetensors") && Catch::Matchers::Contains("100 MB"));
  }
  SECTION("header longer than the file") {
    const auto msg =
        open_error(write_raw(dir, "short.safetensors", "{" + ok_entry + "}", "", 5000));
    CHECK_THAT(msg, Catch::Matchers::Contains("truncated"));
  }
  SECTION("bad JSON") {
    const auto msg = open_error(write_raw(dir, "json.safetensors", "{\"w\": [1,", ""));
    CHECK_THAT(msg, Catch::Matchers::Contains("json.safetensors") &&
                        Catch::Matchers::Contains("not well-formed JSON"));
  }
  SECTION("unknown dtype") {
    const auto msg = open_error(write_raw(
        dir, "dt.safetensors", R"({"w":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", buf8));
    CHECK_THAT(msg, Catch::Matchers::Contains("'w'") && Catch::Matchers::Contains("F33"));
  }
  SECTION("byte count does not match the shape") {
    const auto msg = open_error(write_raw(
        dir, "cnt.safetensors", R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", buf8));
    CHECK_THAT(msg,
               Catch::Matchers::Contains("'w'") && Catch::Matchers::Contains("needs 12 bytes"));
  }
  SECTION("range outside the buffer (truncated data)") {
    const auto msg = open_error(write_raw(dir, "oob.safetensors", "{" + ok_entry + "}", "1234"));
    CHECK_THAT(msg, Catch::Matchers::Contains("'w'") && Catch::Matchers::Contains("past the end"));
  }
  SECTION("overlapping ranges") {
    const auto msg =
        open_error(write_raw(dir, "ovl.safetensors",
                             R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                             std::string(12, '\0')));
    CHECK_THAT(msg, Catch::Matchers::Contains("'b'") && Catch::Matchers::Contains("overlaps") &&
                        Catch::Matchers::Contains("'a'"));
  }
  SECTION("gap between ranges") {
    const auto msg =
        open_error(write_raw(dir, "gap.safetensors",
                             R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                             R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                             std::string(12, '\0')));
    CHECK_THAT(msg, Catch::Matchers::Contains("gap") && Catch::Matchers::Contains("'b'"));
  }
  SECTION("uncovered trailing bytes") {
    const auto msg =
        open_error(write_raw(dir, "tail.safetensors", "{" + ok_entry + "}", buf8 + "xx"));
    CHECK_THAT(msg, Catch::Matchers::Contains("trailing") && Catch::Matchers::Contains("'w'"));
  }
  SECTION("negative shape, bad offsets, non-string metadata") {
    CHECK_THAT(
        open_error(write_raw(dir, "neg.safetensors",
                             R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", buf8)),
        Catch::Matchers::Contains("non-negative"));
    CHECK_THAT(
        open_error(write_raw(dir, "off.safetensors",
                             R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", buf8)),
        Catch::Matchers::Contains("end before begin"));
    CHECK_THAT(open_error(write_raw(dir, "md.safetensors", R"({"__metadata__":{"a":1}})", "")),
               Catch::Matchers::Contains("__metadata__"));
  }
  SECTION("a well-formed hand-written file passes") {
    CHECK(open_error(write_raw(dir, "good.safetensors", "{" + ok_entry + "}", buf8)) ==
          "<no error>");
  }
}

TEST_CASE("safetensors sharded checkpoints with an index", "[io]") {
  const auto dir = ibllm::test::scratch_dir("io_st_sharded");
  std::map<std::string, at::Tensor> tensors;
  for (int i = 0; i < 5; ++i) tensors["layer." + std::to_string(i)] = at::full({10}, i, at::kFloat);
  const auto index = write_safetensors_sharded(dir.string(), tensors, 80, {{"format", "pt"}});
  CHECK(fs::exists(dir / "model-00001-of-00003.safetensors"));
  CHECK(fs::exists(dir / "model-00003-of-00003.safetensors"));
  ShardedSafetensors sh(index);
  CHECK(sh.shard_paths().size() == 3);
  CHECK(sh.metadata().at("total_size") == "200");
  for (const auto& source : {index, dir.string()}) {
    const auto back = read_safetensors(source);
    REQUIRE(back.size() == 5);
    for (const auto& [name, t] : tensors) CHECK(at::equal(back.at(name), t));
  }
  // An index that lists a tensor its shard does not hold is rejected, naming both.
  auto j = nlohmann::json::parse(slurp(index));
  j["weight_map"]["ghost"] = "model-00001-of-00003.safetensors";
  std::ofstream(dir / "bad.index.json") << j.dump();
  try {
    ShardedSafetensors bad((dir / "bad.index.json").string());
    FAIL("accepted an index listing a missing tensor");
  } catch (const IoError& e) {
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("'ghost'") &&
                                          Catch::Matchers::Contains("model-00001-of-00003"));
  }
}

TEST_CASE("safetensors streaming writer enforces its declared order", "[io]") {
  const auto dir = ibllm::test::scratch_dir("io_st_stream");
  const auto path = (dir / "s.safetensors").string();
  {
    SafetensorsWriter w(path, {{"a", at::kHalf, {2}}, {"b", at::kFloat, {2}}});
    REQUIRE(w.order().front().name == "b");  // the 4-byte tensor first
    CHECK_THROWS_AS(w.write("a", at::zeros({2}, at::kHalf)), IoError);
    CHECK_THROWS_AS(w.write("b", at::zeros({3}, at::kFloat)), IoError);  // wrong shape
    w.write("b", at::ones({2}, at::kFloat));
    CHECK_THROWS_AS(w.finish(), IoError);  // 'a' missing
  }
  CHECK_FALSE(fs::exists(path));
  CHECK_FALSE(fs::exists(path + ".tmp"));  // an unfinished writer leaves nothing behind
  CHECK_THROWS_AS(write_safetensors(path, {{"c", at::zeros({2}, at::kComplexFloat)}}), IoError);
}

TEST_CASE("format detection: a safetensors header length ending in byte 0x80 is not a pickle", "[io]") {
  // The first byte of a safetensors file is the low byte of its header length; 0x80 is also the
  // pickle PROTO opcode. Found when an export's metadata happened to give such a length.
  auto dir = ibllm::test::scratch_dir("st_0x80");
  const auto path = (dir / "w.safetensors").string();
  bool hit = false;
  for (int pad = 0; pad < 600 && !hit; ++pad) {
    ibllm::io::write_safetensors(path, {{"x", at::ones({2})}}, {{"pad", std::string(pad, 'a')}});
    std::ifstream in(path, std::ios::binary);
    hit = static_cast<unsigned char>(in.get()) == 0x80;
  }
  REQUIRE(hit);
  CHECK(ibllm::io::detect_weights_format(path) == ibllm::io::WeightsFormat::kSafetensors);
  CHECK(ibllm::io::read_weights(path).count("x") == 1);
}
