// Loader throughput benchmark (hidden, "[.bench]"): the caption set written by
// tests/golden/gen/data_loader_bench.py, the reference training transform plus tokenisation, batch
// 4, with 1 and 2 workers; prints samples/s. Needs IBLLM_DATA_BENCH_DIR and the LLaMA tokenizer.
#include <chrono>
#include <cstdlib>
#include <iostream>

#include "data/dataset.h"
#include "data/loader.h"
#include "data/tokenizer.h"
#include "tests/support/catch.h"  // last: glog (via ATen) also defines CHECK
#include "tests/support/paths.h"

using namespace ibllm::data;

TEST_CASE("loader throughput on a synthetic JPEG set", "[.bench][loader][skips]") {
  const char* dir = std::getenv("IBLLM_DATA_BENCH_DIR");
  if (!dir) IBLLM_SKIP("set IBLLM_DATA_BENCH_DIR (see tests/golden/gen/data_loader_bench.py)");
  IBLLM_REQUIRE_ASSET(model, "llama_tokenizer.model");
  auto tok = std::make_shared<const LlamaTokenizer>(model.string());
  DataConfig c;
  c.sources = {
      SourceConfig{SourceKind::kCaptionTsv, std::string(dir) + "/captions.tsv", "", 1.0, ""}};
  c.batch_size = 4;
  c.prefetch_batches = 8;
  auto ds = std::make_shared<const Dataset>(c);
  for (int workers : {1, 2}) {
    c.num_workers = workers;
    DataLoader l(c, ds, tok, LoaderOptions{1, 0, 0, true});
    const auto t0 = std::chrono::steady_clock::now();
    l.start_epoch(0);
    int64_t n = 0;
    while (auto b = l.next(std::chrono::seconds(120))) n += b->size();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "ibllm loader workers=" << workers << ": " << n << " samples in " << s
              << " s = " << n / s << " samples/s (" << l.thread_summary() << ")\n";
    CHECK(n == ds->size() / 4 * 4);
  }
}
