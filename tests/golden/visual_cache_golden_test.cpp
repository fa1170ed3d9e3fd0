// Visual cache against the spec §4 formula computed by torch 1.13
// (tests/golden/gen/visual_cache_reference.py): the fixture's `ibllm embed`-style file is built
// into an index and searched with a chunk size that leaves a partial last chunk; ids must match
// exactly, scores / weights / output within fp32 rounding (1e-5 relative: softmax of τ·s with τ up
// to 100 amplifies last-bit score differences ~100×, still far below 1e-5). The reference's batched
// matmul (B,B,D) agrees with our per-sample mix on its diagonal only.
#include <ATen/ATen.h>

#include "models/cache/cache_index.h"
#include "models/cache/visual_cache.h"
#include "src/io/safetensors.h"
#include "tests/support/catch.h"
#include "tests/support/paths.h"
#include "tests/support/tensor_match.h"

using namespace ibllm::models;

namespace {

std::string fixture(const std::string& name) {
  return (ibllm::test::source_dir() / "tests/golden/fixtures/visual_cache" / name).string();
}

}  // namespace

TEST_CASE("visual cache: search and mixing match the torch restatement of spec §4",
          "[cache][golden]") {
  const auto dir = ibllm::test::scratch_dir("vcache_golden") / "cache";
  build_visual_cache({fixture("source.safetensors")}, dir.string());
  const auto expected = ibllm::io::read_safetensors(fixture("expected.safetensors"));
  const at::Tensor q = expected.at("query");
  const int64_t batch = q.size(0);
  struct Setting {
    const char* tag;
    int64_t k;
    double tau, beta;
  };
  for (const Setting s : {Setting{"k10_t20", 10, 20.0, 0.5}, Setting{"k5_t100", 5, 100.0, 0.5}}) {
    INFO(s.tag);
    const std::string t = s.tag;
    VisualCacheConfig c;
    c.path = dir.string();
    c.top_k = s.k;
    c.temperature = s.tau;
    c.beta = s.beta;
    c.chunk_rows = 64;  // 200 rows: chunks of 64, 64, 64, 8
    VisualCache cache(c);
    const CacheHits h = cache.search(q, s.k);
    CHECK(at::equal(h.ids, expected.at(t + ".ids")));
    IBLLM_CHECK_TENSOR(h.scores, expected.at(t + ".scores"), 1e-6, 1e-6);
    const at::Tensor protos = cache.vectors(h.ids);
    const CacheMix mix = mix_with_neighbours(q, h.scores, protos, s.tau, s.beta);
    IBLLM_CHECK_TENSOR(mix.weights, expected.at(t + ".weights"), 1e-5, 1e-6);
    IBLLM_CHECK_TENSOR(mix.output, expected.at(t + ".output"), 1e-5, 1e-6);
    IBLLM_CHECK_TENSOR(cache.apply(q), expected.at(t + ".output"), 1e-5, 1e-6);

    // The reference's `a @ P` for B > 1: sample b's own mix is entry [b][b]; the others mix
    // sample b's weights with another sample's neighbours, which ours never does.
    const at::Tensor quirk = expected.at(t + ".reference_matmul");
    REQUIRE(quirk.sizes() == at::IntArrayRef({batch, batch, q.size(1)}));
    const at::Tensor r = at::bmm(mix.weights.unsqueeze(1), protos).squeeze(1);
    for (int64_t b = 0; b < batch; ++b) {
      IBLLM_CHECK_TENSOR(r[b], quirk[b][b], 1e-5, 1e-6);
      CHECK_FALSE(at::allclose(r[b], quirk[(b + 1) % batch][b], 1e-3, 1e-3));
    }
  }
}
