// Sampler orders equal torch 1.13's DistributedSampler + DataLoader batching (pad / drop_last) and
// the reference DistributedSubEpochSampler (tests/golden/gen/data_sampler_order.py), so a run sees
// the official data order for the same seed.
#include <fstream>
#include <nlohmann/json.hpp>

#include "data/sampler.h"
#include "tests/support/catch.h"  // last: glog (via ATen) also defines CHECK
#include "tests/support/paths.h"

using namespace ibllm::data;

TEST_CASE("sampler orders match torch DistributedSampler and the reference sub-epoch sampler",
          "[sampler][golden]") {
  std::ifstream f(ibllm::test::source_dir() / "tests/golden/fixtures/data/sampler_order.json");
  REQUIRE(f.good());
  nlohmann::json fx = nlohmann::json::parse(f);
  REQUIRE(fx["cases"].size() == 22);
  for (const auto& c : fx["cases"]) {
    SamplerOptions o;
    o.dataset_size = c["n"];
    o.world_size = c["world"];
    o.batch_size = c["batch"];
    o.seed = c["seed"];
    o.shuffle = true;
    o.split_epoch = c.contains("split") ? c["split"].get<int64_t>() : 1;
    o.last_batch = c["last_batch"] == "drop" ? LastBatch::kDrop : LastBatch::kPad;
    for (int64_t r = 0; r < o.world_size; ++r) {
      o.rank = r;
      Sampler s(o);
      INFO(c["kind"].get<std::string>()
           << " n=" << o.dataset_size << " world=" << o.world_size << " epoch=" << c["epoch"]
           << " rank=" << r << " " << c["last_batch"].get<std::string>());
      auto expected = c["ranks"][r].get<std::vector<std::vector<int64_t>>>();
      CHECK(s.batches(c["epoch"].get<int64_t>()) == expected);
      CHECK(s.batches_per_epoch() == static_cast<int64_t>(expected.size()));
    }
  }
}
