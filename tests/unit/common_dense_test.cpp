// The shared Dense layer (models/common/dense.h): state-dict keys weight/bias, zero allocation,
// the two inits (zero bias; torch.nn.Linear's uniform bias drawn after the weight, so a seeded
// reset matches torch's draw order), the fp32 bias next to bf16 weights, and the forward's cast
// of parameters to the input dtype.
#include <ATen/ATen.h>

#include <cmath>

#include "models/common/dense.h"
#include "tests/support/catch.h"
#include "tests/support/tensor_match.h"

using namespace ibllm::models;

TEST_CASE("dense: keys, zero allocation and the bias dtype", "[dense]") {
  Dense d(3, 5, true, at::kBFloat16, at::kFloat);
  const auto params = d->named_parameters();
  REQUIRE(params.size() == 2);
  CHECK(params.contains("weight"));
  CHECK(params.contains("bias"));
  CHECK(d->weight.sizes() == at::IntArrayRef({5, 3}));
  CHECK(d->weight.scalar_type() == at::kBFloat16);
  CHECK(d->bias.scalar_type() == at::kFloat);
  CHECK(d->weight.count_nonzero().item<int64_t>() == 0);
  CHECK(d->in_features() == 3);
  CHECK(d->out_features() == 5);
  CHECK(Dense(3, 5, false)->named_parameters().size() == 1);
}

TEST_CASE("dense: the two inits", "[dense]") {
  const double bound = 1.0 / std::sqrt(8.0);
  Dense zero_bias(8, 6, true);
  Dense torch_linear(8, 6, true, at::kFloat, DenseInit::kTorchLinear);
  at::manual_seed(11);
  zero_bias->reset_parameters();
  at::manual_seed(11);
  torch_linear->reset_parameters();
  // Same weight draws; the bias differs: zero vs uniform in the same bound.
  IBLLM_CHECK_TENSOR(torch_linear->weight, zero_bias->weight, 0.0, 0.0);
  CHECK(zero_bias->weight.abs().max().item<double>() <= bound);
  CHECK(zero_bias->bias.count_nonzero().item<int64_t>() == 0);
  CHECK(torch_linear->bias.abs().max().item<double>() <= bound);
  CHECK(torch_linear->bias.count_nonzero().item<int64_t>() == 6);
  // torch.nn.Linear's order: the weight's draws first, then the bias's.
  at::manual_seed(11);
  at::Tensor w = at::empty({6, 8}).uniform_(-bound, bound);
  at::Tensor b = at::empty({6}).uniform_(-bound, bound);
  IBLLM_CHECK_TENSOR(torch_linear->weight, w, 0.0, 0.0);
  IBLLM_CHECK_TENSOR(torch_linear->bias, b, 0.0, 0.0);
}

TEST_CASE("dense: forward casts parameters to the input dtype", "[dense]") {
  Dense d(4, 3, true, at::kFloat, DenseInit::kTorchLinear);
  at::manual_seed(2);
  d->reset_parameters();
  const at::Tensor x = at::randn({2, 5, 4});
  const at::Tensor y = d->forward(x);
  IBLLM_CHECK_TENSOR(y, at::matmul(x, d->weight.t()) + d->bias, 1e-6, 1e-6);
  const at::Tensor y16 = d->forward(x.to(at::kBFloat16));
  CHECK(y16.scalar_type() == at::kBFloat16);
  CHECK(y16.sizes() == at::IntArrayRef({2, 5, 3}));
}
