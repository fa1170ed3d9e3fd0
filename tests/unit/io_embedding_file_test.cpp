// The `ibllm embed` embeddings file (src/io/embedding_file.h): a write/read round trip keeps rows,
// keys and extra metadata; every format error is a DataError whose message starts with the
// caller's noun and names the file and the problem, and carries the caller's hint; the writer
// rejects a row/key mismatch and the reserved "paths" entry.
#include <ATen/ATen.h>

#include <filesystem>

#include "src/core/error.h"
#include "src/io/embedding_file.h"
#include "src/io/safetensors.h"
#include "tests/support/catch.h"
#include "tests/support/paths.h"
#include "tests/support/tensor_match.h"

using namespace ibllm;
namespace fs = std::filesystem;

namespace {

const io::EmbeddingFileContext kContext{"test file", "the test hint"};

// The DataError read_embedding_file throws for `path`, or an empty error when it does not throw.
DataError read_error(const std::string& path) {
  try {
    io::read_embedding_file(path, kContext);
  } catch (const DataError& e) {
    return e;
  }
  return DataError("");
}

}  // namespace

TEST_CASE("embedding file: round trip keeps rows, keys and metadata", "[embedding_file]") {
  const std::string path = (test::scratch_dir("embfile_rt") / "e.safetensors").string();
  at::manual_seed(5);
  const at::Tensor emb = at::randn({3, 6}).t().contiguous().t();  // non-contiguous input
  io::write_embedding_file(path, {"a.png", "", "b/c.jpg"}, emb, {{"modality", "vision"}});
  const io::EmbeddingFile f = io::read_embedding_file(path, kContext);
  CHECK(f.path == path);
  CHECK(f.keys == std::vector<std::string>{"a.png", "", "b/c.jpg"});
  IBLLM_CHECK_TENSOR(f.embeddings, emb, 0.0, 0.0);
  CHECK(f.metadata.at("modality") == "vision");
  CHECK(f.metadata.at("paths") == R"(["a.png","","b/c.jpg"])");
}

TEST_CASE("embedding file: format errors name the file, the problem and the caller's hint",
          "[embedding_file]") {
  const fs::path dir = test::scratch_dir("embfile_err");
  auto expect = [&](const std::string& path, const std::string& problem) {
    const DataError e = read_error(path);
    INFO(e.what());
    CHECK(std::string(e.what()).find("test file " + path) != std::string::npos);
    CHECK(std::string(e.what()).find(problem) != std::string::npos);
    CHECK(e.hint() == "the test hint");
  };
  const at::Tensor rows = at::randn({2, 4});
  const std::string missing = (dir / "missing.safetensors").string();
  expect(missing, "cannot open");

  const std::string no_tensor = (dir / "no_tensor.safetensors").string();
  io::write_safetensors(no_tensor, {{"features", rows}}, {{"paths", R"(["a","b"])"}});
  expect(no_tensor, "no tensor \"embeddings\"");

  const std::string one_dim = (dir / "one_dim.safetensors").string();
  io::write_safetensors(one_dim, {{"embeddings", at::randn({4})}}, {{"paths", R"(["a"])"}});
  expect(one_dim, "must be a float (N, D) tensor, got Float with 1 dims");

  const std::string ints = (dir / "ints.safetensors").string();
  io::write_safetensors(ints, {{"embeddings", at::ones({2, 4}, at::kInt)}},
                        {{"paths", R"(["a","b"])"}});
  expect(ints, "must be a float (N, D) tensor, got Int");

  const std::string no_paths = (dir / "no_paths.safetensors").string();
  io::write_safetensors(no_paths, {{"embeddings", rows}});
  expect(no_paths, "no \"paths\" metadata");

  const std::string not_json = (dir / "not_json.safetensors").string();
  io::write_safetensors(not_json, {{"embeddings", rows}}, {{"paths", "[a, b"}});
  expect(not_json, "\"paths\" metadata is not JSON");

  const std::string short_list = (dir / "short.safetensors").string();
  io::write_safetensors(short_list, {{"embeddings", rows}}, {{"paths", R"(["a"])"}});
  expect(short_list, "exactly one key per row (2)");

  const std::string not_list = (dir / "not_list.safetensors").string();
  io::write_safetensors(not_list, {{"embeddings", rows}}, {{"paths", R"({"a": 1})"}});
  expect(not_list, "exactly one key per row (2)");

  const std::string not_string = (dir / "not_string.safetensors").string();
  io::write_safetensors(not_string, {{"embeddings", rows}}, {{"paths", R"(["a", 7])"}});
  expect(not_string, "paths[1] is not a string");
}

TEST_CASE("embedding file: row keys of another file with \"paths\" metadata", "[embedding_file]") {
  const std::string path = (test::scratch_dir("embfile_keys") / "s.safetensors").string();
  io::write_safetensors(path, {{"vectors", at::zeros({2, 3}, at::kHalf)}},
                        {{"paths", R"(["x","y"])"}});
  const io::SafetensorsFile f(path);
  CHECK(io::read_row_keys(f, 2, kContext) == std::vector<std::string>{"x", "y"});
  CHECK_THROWS_AS(io::read_row_keys(f, 3, kContext), DataError);
}

TEST_CASE("embedding file: the writer rejects bad shapes and the reserved key",
          "[embedding_file]") {
  const std::string path = (test::scratch_dir("embfile_w") / "w.safetensors").string();
  CHECK_THROWS_AS(io::write_embedding_file(path, {"a", "b"}, at::randn({3, 4})), DataError);
  CHECK_THROWS_AS(io::write_embedding_file(path, {"a"}, at::randn({4})), DataError);
  CHECK_THROWS_AS(io::write_embedding_file(path, {"a"}, at::randn({1, 4}), {{"paths", "[]"}}),
                  DataError);
  CHECK_FALSE(fs::exists(path));
}
