// Logging outputs: metrics.jsonl appends across reopen (and repairs a torn last line), the
// TensorBoard writer's bytes equal protobuf's (golden from tests/golden/gen/tensorboard_event.py),
// CRC-32C test vectors, and the progress bar stays silent off a terminal.
#include "tests/support/catch.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "src/core/crc32c.h"
#include "src/core/error.h"
#include "src/core/metrics_writer.h"
#include "src/core/progress_bar.h"
#include "src/core/tensorboard_writer.h"
#include "tests/support/paths.h"

namespace fs = std::filesystem;
using namespace ibllm::core;

namespace {
std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

TEST_CASE("metrics: JSONL appends across reopen, one flushed object per line", "[logging]") {
  auto dir = ibllm::test::scratch_dir("metrics");
  auto path = (dir / "sub" / "metrics.jsonl").string();
  {
    MetricsWriter w(path);
    w.write({{"step", 1}, {"loss", 5.5}});
    // Flushed: visible to a reader before the writer closes.
    CHECK(read_metrics(path).size() == 1);
    w.write({{"step", 2}, {"loss", 5.0}});
  }
  {
    MetricsWriter w(path);  // a resumed run appends, never truncates
    w.write({{"step", 3}, {"loss", 4.5}});
  }
  auto recs = read_metrics(path);
  REQUIRE(recs.size() == 3);
  CHECK(recs[0]["step"] == 1);
  CHECK(recs[2]["loss"] == 4.5);
  CHECK_THROWS_AS(MetricsWriter(path).write(nlohmann::json::array({1, 2})), ibllm::IoError);
}

TEST_CASE("metrics: a torn last record is dropped on reopen, complete ones kept", "[logging]") {
  auto path = (ibllm::test::scratch_dir("metrics_torn") / "metrics.jsonl").string();
  {
    std::ofstream f(path);
    f << "{\"step\":1}\n{\"step\":2}\n{\"ste";  // writer killed mid-line
  }
  CHECK(read_metrics(path).size() == 2);  // reader ignores the torn tail
  {
    MetricsWriter w(path);
    w.write({{"step", 3}});
  }
  auto recs = read_metrics(path);
  REQUIRE(recs.size() == 3);
  CHECK(recs[2]["step"] == 3);
  {
    std::ofstream f(path, std::ios::app);
    f << "not json\n{\"step\":4}\n";
  }
  CHECK_THROWS_AS(read_metrics(path), ibllm::IoError);
}

TEST_CASE("crc32c: standard test vectors", "[logging]") {
  CHECK(crc32c("123456789", 9) == 0xE3069283u);
  std::string zeros(32, '\0');
  CHECK(crc32c(zeros.data(), zeros.size()) == 0x8A9136AAu);
  std::string ones(32, '\xff');
  CHECK(crc32c(ones.data(), ones.size()) == 0x62A8AB43u);
  CHECK(crc32c("", 0) == 0u);
}

TEST_CASE("tensorboard: event bytes equal the protobuf-serialised golden records", "[logging][golden]") {
  auto fixtures = ibllm::test::source_dir() / "tests/golden/fixtures/core";
  CHECK(frame_record(encode_file_version_event(1700000000.25)) ==
        slurp(fixtures / "tb_version_event.bin"));
  CHECK(frame_record(encode_scalar_event("train/loss", 5.4321f, 42, 1700000001.5)) ==
        slurp(fixtures / "tb_scalar_event.bin"));
}

TEST_CASE("tensorboard: writer creates a well-framed event file", "[logging]") {
  auto dir = ibllm::test::scratch_dir("tb");
  std::string path;
  {
    TensorBoardWriter w(dir.string());
    w.add_scalar("train/loss", 1.5, 1);
    w.add_scalar("train/lr", 1e-4, 2);
    w.flush();
    path = w.path();
  }
  CHECK(fs::path(path).filename().string().rfind("events.out.tfevents.", 0) == 0);
  std::string data = slurp(path);
  // Walk the records: each length and CRC must check out, and there must be exactly three.
  size_t pos = 0;
  int records = 0;
  while (pos < data.size()) {
    REQUIRE(pos + 12 <= data.size());
    uint64_t len;
    uint32_t len_crc, data_crc;
    std::memcpy(&len, data.data() + pos, 8);
    std::memcpy(&len_crc, data.data() + pos + 8, 4);
    CHECK(len_crc == masked_crc32c(data.data() + pos, 8));
    REQUIRE(pos + 12 + len + 4 <= data.size());
    std::memcpy(&data_crc, data.data() + pos + 12 + len, 4);
    CHECK(data_crc == masked_crc32c(data.data() + pos + 12, len));
    pos += 12 + len + 4;
    ++records;
  }
  CHECK(records == 3);
}

TEST_CASE("progress bar: silent off a terminal, renders on one", "[logging]") {
  auto path = ibllm::test::scratch_dir("pb") / "out.txt";
  std::FILE* f = std::fopen(path.c_str(), "w");
  REQUIRE(f);
  {
    ProgressBar bar(10, f);  // a regular file is not a TTY
    CHECK_FALSE(bar.enabled());
    bar.update(5, "loss 1.0");
  }
  {
    ProgressBar bar(10, f, /*force_tty=*/1);
    CHECK(bar.enabled());
    bar.update(5, "loss 1.0");
    CHECK(bar.render(5, "x").find("5/10  50%") != std::string::npos);
  }
  std::fclose(f);
  std::string out = slurp(path);
  CHECK(out.find("loss 1.0") != std::string::npos);
  CHECK(out.find('\r') == 0);  // only the forced-TTY bar wrote anything
}
