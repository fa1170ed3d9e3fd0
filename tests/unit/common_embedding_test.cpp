// The shared token table (models/common/embedding.h): key weight, zero allocation, the init's
// standard deviation option (torch.nn.Embedding's 1 by default, CLIP's 0.02 for the text encoder)
// drawn in torch's order, lookup of any index shape, and the int64 check.
#include <ATen/ATen.h>

#include "models/common/embedding.h"
#include "tests/support/catch.h"
#include "tests/support/tensor_match.h"

using namespace ibllm::models;

TEST_CASE("embedding: key, zero allocation, init std and lookup", "[embedding]") {
  TokenEmbedding e(50, 40);
  REQUIRE(e->named_parameters().size() == 1);
  CHECK(e->named_parameters().contains("weight"));
  CHECK(e->weight.count_nonzero().item<int64_t>() == 0);
  TokenEmbedding clip(50, 40, at::kFloat, /*init_std=*/0.02);
  at::manual_seed(4);
  e->reset_parameters();
  at::manual_seed(4);
  clip->reset_parameters();
  // The same N(0, 1) draws, scaled: torch's normal_(0, std) is mean + std * the unit draw.
  IBLLM_CHECK_TENSOR(clip->weight, e->weight * 0.02, 1e-6, 1e-9);
  CHECK(e->weight.std().item<double>() == Approx(1.0).epsilon(0.1));
  const at::Tensor ids = at::tensor({3, 0, 49, 3}, at::kLong).reshape({2, 2});
  const at::Tensor out = e->forward(ids);
  CHECK(out.sizes() == at::IntArrayRef({2, 2, 40}));
  IBLLM_CHECK_TENSOR(out[1][1], e->weight[3], 0.0, 0.0);
  CHECK_THROWS(e->forward(ids.to(at::kInt)));
}
