// Throughput benchmark behind docs/weights.md (hidden; needs a big generated file, see there).
// One phase per run so an external `/usr/bin/time -v` measures each phase's peak RSS:
//   IBLLM_IO_BENCH_PTH=big.pth IBLLM_IO_BENCH_OUT=big.safetensors IBLLM_IO_BENCH_PHASE=convert
//     /usr/bin/time -v ./build/ibllm_tests "[.bench]"
// phases: none (baseline RSS of the binary), convert (.pth -> safetensors, streaming),
// map (open safetensors, map every tensor, touch nothing), sum (map + touch every page),
// pth_map (open .pth, map every tensor).
#include <ATen/ATen.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "src/io/convert.h"
#include "src/io/pth_reader.h"
#include "src/io/safetensors.h"
#include "tests/support/catch.h"

using namespace ibllm::io;

TEST_CASE("io benchmark phase", "[io][.bench][skips]") {
  const char* phase_env = std::getenv("IBLLM_IO_BENCH_PHASE");
  const char* pth = std::getenv("IBLLM_IO_BENCH_PTH");
  const char* out = std::getenv("IBLLM_IO_BENCH_OUT");
  if (!phase_env || !pth || !out)
    IBLLM_SKIP("set IBLLM_IO_BENCH_PHASE, IBLLM_IO_BENCH_PTH, IBLLM_IO_BENCH_OUT");
  const std::string phase = phase_env;
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t bytes = 0;
  double checksum = 0;
  if (phase == "convert") {
    const auto s = convert_weights(pth, out, {});
    bytes = s.bytes_read;
    CHECK(std::filesystem::file_size(out) == s.bytes_written);
  } else if (phase == "map" || phase == "sum") {
    SafetensorsFile f(out);
    const auto t = f.tensors();
    for (const auto& [k, v] : t) {
      bytes += v.numel() * v.element_size();
      if (phase == "sum") {  // read one byte per 4 KB page: every page comes in through the mapping
        const auto* p = static_cast<const volatile uint8_t*>(v.data_ptr());
        const int64_t n = v.numel() * v.element_size();
        for (int64_t i = 0; i < n; i += 4096) checksum += p[i];
      }
    }
    CHECK(bytes == f.buffer_size());
  } else if (phase == "pth_map") {
    PthFile f(pth);
    for (const auto& [k, v] : f.tensors()) bytes += v.numel() * v.element_size();
    CHECK(bytes > 0);
  } else {
    CHECK(phase == "none");
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("phase %s: %.3f s, %.1f MB, %.1f MB/s, checksum %.6g\n", phase.c_str(), s,
              bytes / 1e6, s > 0 ? bytes / 1e6 / s : 0.0, checksum);
}
