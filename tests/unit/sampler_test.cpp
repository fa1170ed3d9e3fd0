// Sampler properties: identical order on every rank, sharding covers each index exactly once
// (partial) across 1/2/3 ranks, pad/drop sizes, resume from a cursor yields exactly the remaining
// samples (also after a world-size change), per-epoch reshuffle, sub-epoch coverage.
#include <algorithm>
#include <map>
#include <set>

#include "data/sampler.h"
#include "src/core/error.h"
#include "tests/support/catch.h"  // last: glog (via ATen) also defines CHECK

using namespace ibllm::data;

namespace {

SamplerOptions opts(int64_t n, int64_t world, int64_t rank, int64_t b, LastBatch lb,
                    int64_t split = 1) {
  SamplerOptions o;
  o.dataset_size = n;
  o.world_size = world;
  o.rank = rank;
  o.batch_size = b;
  o.seed = 42;
  o.split_epoch = split;
  o.last_batch = lb;
  return o;
}

std::vector<int64_t> flatten_all_ranks(int64_t n, int64_t world, int64_t b, LastBatch lb,
                                       int64_t epoch, int64_t cursor, int64_t split = 1) {
  std::vector<int64_t> all;
  for (int64_t r = 0; r < world; ++r)
    for (const auto& batch : Sampler(opts(n, world, r, b, lb, split)).batches(epoch, cursor))
      all.insert(all.end(), batch.begin(), batch.end());
  return all;
}

}  // namespace

TEST_CASE("partial sharding covers every index exactly once across 1, 2, 3 ranks", "[sampler]") {
  for (int64_t world : {1, 2, 3}) {
    for (int64_t n : {1, 7, 24, 101}) {
      INFO("world " << world << " n " << n);
      auto all = flatten_all_ranks(n, world, 4, LastBatch::kPartial, 3, 0);
      std::sort(all.begin(), all.end());
      std::vector<int64_t> expect(n);
      for (int64_t i = 0; i < n; ++i) expect[i] = i;
      CHECK(all == expect);
      // every rank sees the same number of batches (collectives stay in step)
      std::set<size_t> counts;
      for (int64_t r = 0; r < world; ++r)
        counts.insert(Sampler(opts(n, world, r, 4, LastBatch::kPartial)).batches(3).size());
      CHECK(counts.size() == 1);
    }
  }
}

TEST_CASE("pad repeats, drop discards, both keep ranks equal", "[sampler]") {
  const int64_t n = 23, world = 3, b = 2;
  auto pad = flatten_all_ranks(n, world, b, LastBatch::kPad, 0, 0);
  CHECK(pad.size() == 24);  // ceil(23/3)*3, one index repeated
  CHECK(std::set<int64_t>(pad.begin(), pad.end()).size() == 23);
  // drop: torch pads to ceil(23/3) = 8 per rank, then DataLoader(drop_last) keeps 2 batches of 3
  auto drop = flatten_all_ranks(n, world, 3, LastBatch::kDrop, 0, 0);
  CHECK(drop.size() == 18);
  for (int64_t r = 0; r < world; ++r)
    for (const auto& batch : Sampler(opts(n, world, r, 3, LastBatch::kDrop)).batches(0))
      CHECK(batch.size() == 3);
}

TEST_CASE("the epoch order is identical on every rank and changes per epoch", "[sampler]") {
  Sampler a(opts(50, 2, 0, 4, LastBatch::kDrop)), b(opts(50, 2, 1, 4, LastBatch::kDrop));
  CHECK(a.epoch_order(5) == b.epoch_order(5));
  CHECK(a.epoch_order(5) != a.epoch_order(6));
  auto r0 = a.batches(5), r1 = b.batches(5);
  std::set<int64_t> s0, s1;
  for (auto& x : r0) s0.insert(x.begin(), x.end());
  for (auto& x : r1) s1.insert(x.begin(), x.end());
  for (int64_t i : s0) CHECK(s1.count(i) == 0);  // no overlap
  SamplerOptions o = opts(50, 1, 0, 4, LastBatch::kDrop);
  o.shuffle = false;
  auto ordered = Sampler(o).epoch_order(3);
  CHECK(ordered.front() == 0);
  CHECK(ordered.back() == 49);
}

TEST_CASE("resume from a mid-epoch cursor yields exactly the remaining samples", "[sampler]") {
  for (LastBatch lb : {LastBatch::kPartial, LastBatch::kPad, LastBatch::kDrop}) {
    const int64_t n = 37, world = 2, b = 3;
    Sampler s0(opts(n, world, 0, b, lb)), s1(opts(n, world, 1, b, lb));
    auto full0 = s0.batches(2), full1 = s1.batches(2);
    for (int64_t done = 0; done <= static_cast<int64_t>(full0.size()); ++done) {
      const int64_t cursor = s0.cursor_after(0, done);
      auto rest0 = s0.batches(2, cursor), rest1 = s1.batches(2, cursor);
      CHECK(rest0 == std::vector<std::vector<int64_t>>(full0.begin() + done, full0.end()));
      CHECK(rest1 == std::vector<std::vector<int64_t>>(full1.begin() + done, full1.end()));
    }
    CHECK(s0.cursor_after(0, static_cast<int64_t>(full0.size())) == s0.positions_per_epoch());
    CHECK(s0.batches(2, s0.positions_per_epoch()).empty());
  }
}

TEST_CASE("resume after a world-size change continues the same global order", "[sampler]") {
  const int64_t n = 40;
  // 2 ranks x batch 3 consumed 2 global batches = 12 global samples; resume on 3 ranks x batch 2.
  auto before = flatten_all_ranks(n, 2, 3, LastBatch::kPartial, 1, 0);
  Sampler probe(opts(n, 2, 0, 3, LastBatch::kPartial));
  const int64_t cursor = probe.cursor_after(0, 2);
  CHECK(cursor == 12);
  auto order = probe.epoch_order(1);
  std::multiset<int64_t> seen(order.begin(), order.begin() + cursor);
  auto after = flatten_all_ranks(n, 3, 2, LastBatch::kPartial, 1, cursor);
  std::multiset<int64_t> rest(after.begin(), after.end());
  CHECK(rest == std::multiset<int64_t>(order.begin() + cursor, order.end()));
  for (int64_t i : rest) CHECK(seen.count(i) == 0);
  CHECK_THROWS_AS(Sampler(opts(n, 3, 0, 2, LastBatch::kPartial)).batches(1, 13), ibllm::DataError);
}

TEST_CASE("sub-epoch sampler covers the data once per split_epoch sub-epochs", "[sampler]") {
  const int64_t n = 60, world = 2, split = 3;
  std::vector<int64_t> all;
  for (int64_t e = 3; e < 6; ++e) {  // one permutation (seed + e/3 = 1)
    auto part = flatten_all_ranks(n, world, 2, LastBatch::kPad, e, 0, split);
    CHECK(part.size() == 20);
    all.insert(all.end(), part.begin(), part.end());
  }
  std::sort(all.begin(), all.end());
  for (int64_t i = 0; i < n; ++i) CHECK(all[i] == i);
  // resume inside a sub-epoch
  Sampler s(opts(n, world, 1, 2, LastBatch::kPad, split));
  auto full = s.batches(4);
  auto rest = s.batches(4, s.cursor_after(0, 2));
  CHECK(rest == std::vector<std::vector<int64_t>>(full.begin() + 2, full.end()));
}

TEST_CASE("sampler rejects bad options", "[sampler]") {
  CHECK_THROWS_AS(Sampler(opts(0, 1, 0, 1, LastBatch::kDrop)), ibllm::DataError);
  CHECK_THROWS_AS(Sampler(opts(10, 2, 2, 1, LastBatch::kDrop)), ibllm::DataError);
  CHECK_THROWS_AS(Sampler(opts(10, 2, 0, 1, LastBatch::kPartial, 2)), ibllm::DataError);
  CHECK_THROWS_AS(Sampler(opts(10, 2, 0, 1, LastBatch::kDrop)).batches(0, 100), ibllm::DataError);
  // too small for one full batch per rank: an error, not a silently empty epoch
  CHECK_THROWS_AS(Sampler(opts(5, 2, 0, 4, LastBatch::kDrop)), ibllm::DataError);
  CHECK(Sampler(opts(5, 2, 0, 4, LastBatch::kPartial)).batches(0).size() == 1);
}
