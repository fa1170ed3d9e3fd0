// .pth writer: bitwise round trips through our own reader (every dtype, non-contiguous views, 0-d
// and empty tensors, sizes that need every pickle integer opcode), the archive layout, refusals
// that leave no file behind, and the cross-check that matters: the venv's Python with torch
// torch.load()s the file (also weights_only=True) and parses our safetensors by hand
// (tests/golden/gen/pth_writer_check.py), comparing values against a pattern both sides restate.
#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <set>

#include "src/core/error.h"
#include "src/io/pickle.h"
#include "src/io/pth_reader.h"
#include "src/io/pth_writer.h"
#include "src/io/safetensors.h"
#include "src/io/weights_reader.h"
#include "tests/support/catch.h"
#include "tests/support/paths.h"

namespace fs = std::filesystem;
using ibllm::IoError;
using namespace ibllm::io;
using Kind = PickleValue::Kind;
using Entries = std::vector<std::pair<std::string, at::Tensor>>;

namespace {

// Whether `p` lies in a memory mapping of the file `path` (Linux: /proc/self/maps).
bool in_mapping_of(const void* p, const std::string& path) {
  const std::string file = std::filesystem::canonical(path).string();
  std::ifstream maps("/proc/self/maps");
  const auto addr = reinterpret_cast<uintptr_t>(p);
  for (std::string line; std::getline(maps, line);) {
    if (line.size() < file.size() || line.compare(line.size() - file.size(), file.size(), file) != 0)
      continue;
    uintptr_t begin = 0, end = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx", &begin, &end) == 2 && addr >= begin && addr < end)
      return true;
  }
  return false;
}

const std::vector<std::pair<std::string, at::ScalarType>> kDtypes = {
    {"f64", at::kDouble}, {"f32", at::kFloat}, {"f16", at::kHalf},  {"bf16", at::kBFloat16},
    {"i64", at::kLong},   {"i32", at::kInt},   {"i16", at::kShort}, {"i8", at::kChar},
    {"u8", at::kByte},    {"bool", at::kBool}};

std::string dtype_label(at::ScalarType dt) {
  for (const auto& [label, d] : kDtypes)
    if (d == dt) return label;
  return "?";
}

// The values pth_writer_check.py's pattern() expects (restated there): m_i = (37 i + 11) mod 97;
// floats (m-48)/8, signed ints m-48, u8 m, bool m%3==0; the first elements then hold special
// values (floats: nan, inf, -inf, -0.0, largest finite, smallest subnormal; ints: min, max).
at::Tensor pattern(at::ScalarType dt, const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (const auto d : shape) n *= d;
  const auto m = (at::arange(n, at::kLong) * 37 + 11).remainder(97);
  at::Tensor t;
  if (at::isFloatingType(dt)) {
    t = ((m - 48).to(at::kDouble) / 8).to(dt);
    std::vector<int64_t> bits;
    at::ScalarType int_dt = at::kShort;
    if (dt == at::kDouble) {
      int_dt = at::kLong;
      bits = {0x7FF8000000000000,
              0x7FF0000000000000,
              static_cast<int64_t>(0xFFF0000000000000ULL),
              static_cast<int64_t>(0x8000000000000000ULL),
              0x7FEFFFFFFFFFFFFF,
              1};
    } else if (dt == at::kFloat) {
      int_dt = at::kInt;
      bits = {0x7FC00000,
              0x7F800000,
              static_cast<int32_t>(0xFF800000u),
              static_cast<int32_t>(0x80000000u),
              0x7F7FFFFF,
              1};
    } else if (dt == at::kHalf) {
      bits = {0x7E00, 0x7C00, static_cast<int16_t>(0xFC00), static_cast<int16_t>(0x8000),
              0x7BFF, 1};
    } else {
      bits = {0x7FC0, 0x7F80, static_cast<int16_t>(0xFF80), static_cast<int16_t>(0x8000),
              0x7F7F, 1};
    }
    if (n >= static_cast<int64_t>(bits.size())) {
      auto view = t.view(int_dt);
      for (size_t k = 0; k < bits.size(); ++k) view.narrow(0, k, 1).fill_(bits[k]);
    }
  } else if (dt == at::kBool) {
    t = m.remainder(3).eq(0);
  } else {
    t = (dt == at::kByte ? m : m - 48).to(dt);
    if (n >= 2) {
      AT_DISPATCH_INTEGRAL_TYPES(dt, "pattern", [&] {
        t.narrow(0, 0, 1).fill_(std::numeric_limits<scalar_t>::lowest());
        t.narrow(0, 1, 1).fill_(std::numeric_limits<scalar_t>::max());
      });
    }
  }
  return t.reshape(shape);
}

std::string shape_label(const std::vector<int64_t>& shape) {
  if (shape.empty()) return "-";
  std::string s;
  for (const auto d : shape) s += (s.empty() ? "" : "x") + std::to_string(d);
  return s;
}

// "<label>:<dtype>:<shape>" -> pattern tensor; the name tells the Python check what to expect.
std::pair<std::string, at::Tensor> entry(const std::string& label, at::ScalarType dt,
                                         const std::vector<int64_t>& shape) {
  return {label + ":" + dtype_label(dt) + ":" + shape_label(shape), pattern(dt, shape)};
}

// Every dtype, plus the layouts a writer can get wrong. The order is deliberately not sorted.
Entries sample_entries() {
  Entries out;
  const std::vector<std::vector<int64_t>> shapes = {{2, 3}, {7}, {3, 1, 4}, {6}, {2, 2, 2, 2, 1}};
  for (size_t k = kDtypes.size(); k-- > 0;) {
    out.push_back(entry("w" + std::to_string(k), kDtypes[k].second, shapes[k % shapes.size()]));
  }
  // Transposed: logically pattern(3x4), stored column-major.
  auto transposed = entry("transposed", at::kFloat, {3, 4});
  transposed.second = transposed.second.t().contiguous().t();
  REQUIRE_FALSE(transposed.second.is_contiguous());
  out.push_back(transposed);
  // A window into a bigger tensor: non-contiguous with a storage offset.
  auto window = entry("window", at::kHalf, {3, 4});
  auto big = at::zeros({5, 7}, at::kHalf);
  big.narrow(0, 1, 3).narrow(1, 2, 4).copy_(window.second);
  window.second = big.narrow(0, 1, 3).narrow(1, 2, 4);
  REQUIRE(window.second.storage_offset() > 0);
  out.push_back(window);
  // A size-1 dim with an odd stride (what unsqueeze/expand leave behind).
  auto odd = entry("odd_stride", at::kByte, {1, 5});
  odd.second = at::zeros({5, 3}, at::kByte).select(1, 0).unsqueeze(0);
  odd.second.copy_(pattern(at::kByte, {1, 5}));
  REQUIRE(odd.second.stride(1) == 3);
  out.push_back(odd);
  auto param = entry("param", at::kFloat, {2, 3});  // written with requires_grad=False
  param.second.requires_grad_(true);
  out.push_back(param);
  out.push_back(entry("scalar", at::kDouble, {}));
  out.push_back(entry("scalar", at::kBool, {}));
  out.push_back(entry("empty", at::kLong, {0}));
  out.push_back(entry("empty", at::kHalf, {2, 0, 3}));
  // Sizes/strides needing BININT2 (300), BININT (70000) and LONG1 (3e9) in the pickle.
  out.push_back(entry("medium", at::kChar, {300}));
  out.push_back(entry("long", at::kByte, {70000}));
  out.push_back(entry("huge_empty", at::kFloat, {0, 3000000000LL}));
  return out;
}

std::string bytes_of(const at::Tensor& t) {
  auto c = t.contiguous();
  return std::string(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
}

void check_same(const at::Tensor& got, const at::Tensor& want) {
  CHECK(got.scalar_type() == want.scalar_type());
  CHECK(got.sizes() == want.sizes());
  if (got.sizes() == want.sizes() && got.scalar_type() == want.scalar_type()) {
    CHECK(bytes_of(got) == bytes_of(want));
  }
}

struct Run {
  int code = -1;
  std::string output;
};

Run run(const std::string& cmd) {
  Run r;
  std::FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  const int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// "" when the test Python (ibllm::test::python()) with torch is usable, else why not (probed once: importing torch
// takes seconds).
std::string python_unavailable() {
  static const std::string why = [] {
    const std::string py = ibllm::test::python();
    if (!fs::exists(py)) return py + " not found";
    const auto r = run("'" + py + "' -c 'import torch, numpy'");
    if (r.code != 0) return py + " cannot import torch/numpy: " + r.output;
    return std::string();
  }();
  return why;
}

Run python_check(const std::string& args) {
  const auto script = ibllm::test::source_dir() / "tests/golden/gen/pth_writer_check.py";
  return run("'" + ibllm::test::python() + "' '" + script.string() + "' " + args);
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const IoError& e) {
    return e.what();
  }
  return "<no error>";
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("write_pth round trip through our reader is bitwise, in the order given",
          "[io][pth_writer]") {
  const auto dir = ibllm::test::scratch_dir("pth_writer_roundtrip");
  const auto tensors = sample_entries();
  const auto path = (dir / "7B.pth").string();
  write_pth(path, tensors);
  CHECK_FALSE(fs::exists(path + ".tmp"));

  PthFile f(path);
  CHECK(f.warnings().empty());
  REQUIRE(f.root().kind == Kind::kDict);
  REQUIRE(f.root().entries.size() == 1);
  CHECK(f.root().entries[0].first->str == "model");
  CHECK(f.at_path("model").str == "collections.OrderedDict");
  const auto infos = f.tensor_infos("model");
  REQUIRE(infos.size() == tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    INFO("tensor " << tensors[i].first);
    CHECK(infos[i].name == tensors[i].first);
    CHECK(infos[i].dtype == tensors[i].second.scalar_type());
    CHECK(infos[i].shape == tensors[i].second.sizes().vec());
    CHECK(infos[i].storage_key == std::to_string(i));
    CHECK_FALSE(infos[i].is_parameter);
  }
  for (const auto mode : {PthLoad::kMap, PthLoad::kCopy}) {
    const auto got = f.tensors("model", mode);
    REQUIRE(got.size() == tensors.size());
    for (const auto& [name, want] : tensors) {
      INFO("tensor " << name << (mode == PthLoad::kMap ? " (map)" : " (copy)"));
      REQUIRE(got.count(name) == 1);
      check_same(got.at(name), want);
      CHECK(got.at(name).is_contiguous());
    }
  }
  // Records are stored (uncompressed), so kMap serves them from a mapping of the file itself
  // (its address range in /proc/self/maps); kCopy reads them into memory of their own.
  const auto mapped = f.tensors("model", PthLoad::kMap), copied = f.tensors("model", PthLoad::kCopy);
  for (const auto& [name, want] : tensors) {
    INFO("tensor " << name);
    if (want.numel() == 0) continue;
    CHECK(in_mapping_of(mapped.at(name).data_ptr(), path));
    CHECK_FALSE(in_mapping_of(copied.at(name).data_ptr(), path));
  }
  WeightsReader reader(path, "model");
  CHECK(reader.format() == WeightsFormat::kPth);
  for (const auto& [name, want] : tensors) {
    INFO("tensor " << name);
    check_same(reader.tensor(name, /*copy=*/true), want);
  }
}

TEST_CASE("write_pth with an empty wrap key writes the bare OrderedDict", "[io][pth_writer]") {
  const auto dir = ibllm::test::scratch_dir("pth_writer_bare");
  const auto path = (dir / "bare.pth").string();
  const Entries tensors = {entry("b", at::kFloat, {2, 2}), entry("a", at::kHalf, {3})};
  write_pth(path, tensors, "");
  PthFile f(path);
  CHECK(f.root().kind == Kind::kDict);
  CHECK(f.root().str == "collections.OrderedDict");
  const auto infos = f.tensor_infos();
  REQUIRE(infos.size() == 2);
  CHECK(infos[0].name == tensors[0].first);
  CHECK(infos[1].name == tensors[1].first);
  const auto got = read_weights(path);
  for (const auto& [name, want] : tensors) check_same(got.at(name), want);

  // More entries than one SETITEMS batch (1000).
  Entries many;
  for (int i = 0; i < 2345; ++i) many.push_back(entry("n" + std::to_string(i), at::kHalf, {2}));
  write_pth(path, many, "");
  PthFile m(path);
  const auto many_infos = m.tensor_infos();
  REQUIRE(many_infos.size() == many.size());
  for (size_t i = 0; i < many.size(); i += 97) CHECK(many_infos[i].name == many[i].first);
  CHECK(many_infos.back().name == many.back().first);
  check_same(m.tensor(many.back().first), many.back().second);

  // No tensors at all is still a valid (empty) state dict; overwriting replaces the old file.
  write_pth(path, {}, "model");
  PthFile empty(path);
  CHECK(empty.at_path("model").entries.empty());
  CHECK(empty.tensor_infos().empty());
}

TEST_CASE("write_pth archive layout: records, byte order, 64-byte aligned data, protocol 2",
          "[io][pth_writer]") {
  const auto dir = ibllm::test::scratch_dir("pth_writer_layout");
  const auto path = (dir / "layout.pth").string();
  const Entries tensors = {entry("x", at::kFloat, {5}), entry("y", at::kHalf, {3}),
                           entry("z", at::kBool, {7})};
  write_pth(path, tensors);
  // The first zip entry, from its local header: the archive folder is "archive" (what torch.save
  // writes to a file object), whatever the output file is called.
  const auto raw = slurp(path);
  REQUIRE(raw.size() > 30);
  CHECK(raw.compare(0, 4, "PK\x03\x04") == 0);
  const size_t name_len = static_cast<uint8_t>(raw[26]) | (static_cast<uint8_t>(raw[27]) << 8);
  CHECK(raw.substr(30, name_len) == "archive/data.pkl");

  caffe2::serialize::PyTorchStreamReader zip(path);
  std::set<std::string> names;
  for (auto r : zip.getAllRecords()) {  // LibTorch 1.13 strips the folder, older ones do not
    if (r.rfind("archive/", 0) == 0) r = r.substr(8);
    names.insert(r);
  }
  for (const char* r : {"data.pkl", "byteorder", "version", "data/0", "data/1", "data/2"}) {
    INFO(r);
    CHECK(names.count(r) == 1);
  }
  auto [order, order_n] = zip.getRecord("byteorder");
  CHECK(std::string(static_cast<const char*>(order.get()), order_n) == "little");
  for (int i = 0; i < 3; ++i) {
    const auto key = "data/" + std::to_string(i);
    INFO(key);
    CHECK(zip.getRecordOffset(key) % 64 == 0);
    auto [data, n] = zip.getRecord(key);
    CHECK(std::string(static_cast<const char*>(data.get()), n) == bytes_of(tensors[i].second));
  }
  auto [pkl, pkl_n] = zip.getRecord("data.pkl");
  const auto* p = static_cast<const uint8_t*>(pkl.get());
  REQUIRE(pkl_n > 3);
  CHECK(p[0] == 0x80);
  CHECK(p[1] == 2);
  CHECK(p[pkl_n - 1] == '.');
}

TEST_CASE("pth_storage_class is the inverse of the reader's storage_dtype", "[io][pth_writer]") {
  for (const auto& [label, dt] : kDtypes) {
    INFO(label);
    CHECK(storage_dtype("torch." + pth_storage_class(dt)) == dt);
  }
  CHECK_THROWS_AS(pth_storage_class(at::kComplexFloat), IoError);
}

TEST_CASE("write_pth refuses bad input before touching the destination", "[io][pth_writer]") {
  const auto dir = ibllm::test::scratch_dir("pth_writer_errors");
  const auto path = (dir / "keep.pth").string();
  write_pth(path, {entry("ok", at::kFloat, {2})});
  const auto before = slurp(path);

  const auto complex = error_of([&] {
    write_pth(path, {entry("ok", at::kFloat, {2}), {"c", at::zeros({2}, at::kComplexFloat)}});
  });
  CHECK(complex.find("keep.pth") != std::string::npos);
  CHECK(complex.find("'c'") != std::string::npos);
  CHECK(complex.find("ComplexFloat") != std::string::npos);
  CHECK(complex.find("does not support") != std::string::npos);

  const auto dup = error_of([&] {
    write_pth(path, {{"a", at::zeros({1})}, {"a", at::ones({1})}});
  });
  CHECK(dup.find("'a' appears twice") != std::string::npos);
  const auto undefined = error_of([&] { write_pth(path, {{"u", at::Tensor()}}); });
  CHECK(undefined.find("'u' is undefined") != std::string::npos);
  const auto sparse = error_of([&] { write_pth(path, {{"s", at::eye(3).to_sparse()}}); });
  CHECK(sparse.find("'s' is not a dense") != std::string::npos);
  const auto utf8 = error_of([&] { write_pth(path, {{"bad\xff", at::zeros({1})}}); });
  CHECK(utf8.find("'bad\\xff'") != std::string::npos);
  CHECK(utf8.find("not valid UTF-8") != std::string::npos);
  const auto truncated = error_of([&] { write_pth(path, {{"x", at::zeros({1})}}, "\xc3"); });
  CHECK(truncated.find("wrap key") != std::string::npos);

  CHECK(slurp(path) == before);
  CHECK_FALSE(fs::exists(path + ".tmp"));
  // Valid multi-byte UTF-8 is fine.
  write_pth(path, {{"caf\xc3\xa9", at::zeros({1})}});
  CHECK(PthFile(path).tensor_infos()[0].name == "model/caf\xc3\xa9");
}

TEST_CASE("write_pth to an unwritable path names the path", "[io][pth_writer]") {
  const auto dir = ibllm::test::scratch_dir("pth_writer_unwritable");
  const auto missing = (dir / "no_such_dir" / "x.pth").string();
  const auto e1 = error_of([&] { write_pth(missing, {entry("a", at::kFloat, {2})}); });
  CHECK(e1.find("no_such_dir/x.pth.tmp") != std::string::npos);
  CHECK(e1.find("cannot create") != std::string::npos);
  // The destination is a directory: the temporary file is written, the rename fails, and the
  // temporary file is removed.
  const auto target = dir / "is_a_dir";
  fs::create_directories(target / "inside");
  const auto e2 = error_of([&] { write_pth(target.string(), {entry("a", at::kFloat, {2})}); });
  CHECK(e2.find("cannot rename") != std::string::npos);
  CHECK_FALSE(fs::exists(target.string() + ".tmp"));
  CHECK(fs::is_directory(target / "inside"));
}

TEST_CASE("Python torch.load reads write_pth output, also with weights_only=True",
          "[io][pth_writer][skips]") {
  const auto why = python_unavailable();
  if (!why.empty()) IBLLM_SKIP(why);
  const auto dir = ibllm::test::scratch_dir("pth_writer_python");
  const auto tensors = sample_entries();
  const auto pth = (dir / "export.pth").string();
  const auto st = (dir / "export.safetensors").string();
  write_pth(pth, tensors);
  std::map<std::string, at::Tensor> copy(tensors.begin(), tensors.end());
  write_safetensors(st, copy);

  std::string order;
  for (const auto& [name, t] : tensors) order += (order.empty() ? "" : " ") + name;
  const auto r = python_check("--pth '" + pth + "' --safetensors '" + st + "' --wrap model");
  INFO(r.output);
  CHECK(r.code == 0);
  const auto n = std::to_string(tensors.size());
  CHECK(r.output.find("safetensors ok: " + n + " tensors") != std::string::npos);
  CHECK(r.output.find("pth ok (weights_only=False): " + n + " tensors") != std::string::npos);
  CHECK(r.output.find("pth ok (weights_only=True): " + n + " tensors") != std::string::npos);
  CHECK(r.output.find("pth order: " + order + "\n") != std::string::npos);
  CHECK(r.output.find("LONG1") != std::string::npos);  // the 3e9 size went through Python too
  CHECK(r.output.find("FAIL") == std::string::npos);

  // The bare OrderedDict form, with more entries than one SETITEMS batch (1000).
  const auto bare = (dir / "bare.pth").string();
  Entries many = {entry("b", at::kFloat, {4}), entry("a", at::kBFloat16, {2, 3})};
  for (int i = 0; i < 1200; ++i) many.push_back(entry("n" + std::to_string(i), at::kShort, {2}));
  write_pth(bare, many, "");
  const auto r2 = python_check("--pth '" + bare + "' --wrap ''");
  INFO(r2.output);
  CHECK(r2.code == 0);
  CHECK(r2.output.find("pth ok (weights_only=True): 1202 tensors") != std::string::npos);
  CHECK(r2.output.find("pth order: b:f32:4 a:bf16:2x3 n0:i16:2 n1:i16:2 ") != std::string::npos);
  CHECK(r2.output.find(" n1198:i16:2 n1199:i16:2\n") != std::string::npos);
}

TEST_CASE("Python parses write_safetensors output by hand and finds the exact values",
          "[io][pth_writer][skips]") {
  const auto why = python_unavailable();
  if (!why.empty()) IBLLM_SKIP(why);
  const auto dir = ibllm::test::scratch_dir("pth_writer_safetensors");
  std::map<std::string, at::Tensor> tensors;
  for (const auto& [name, t] : sample_entries()) tensors[name] = t;
  const auto path = (dir / "all.safetensors").string();
  write_safetensors(path, tensors, {{"format", "pt"}, {"note", "caf\xc3\xa9"}});
  const auto r = python_check("--safetensors '" + path + "'");
  INFO(r.output);
  CHECK(r.code == 0);
  CHECK(r.output.find("safetensors ok: " + std::to_string(tensors.size()) + " tensors") !=
        std::string::npos);
  CHECK(r.output.find(R"(metadata {"format": "pt", "note": "caf\u00e9"})") != std::string::npos);

  // The check can fail: flip one bit of the last tensor's data and it must say so.
  auto bytes = slurp(path);
  bytes[bytes.size() - 1] ^= 0x01;
  const auto bad = (dir / "flipped.safetensors").string();
  std::ofstream(bad, std::ios::binary) << bytes;
  const auto r2 = python_check("--safetensors '" + bad + "'");
  INFO(r2.output);
  CHECK(r2.code == 1);
  CHECK(r2.output.find("FAIL: ") != std::string::npos);
  CHECK(r2.output.find("values differ from the pattern") != std::string::npos);
}
