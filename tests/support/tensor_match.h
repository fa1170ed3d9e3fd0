// Golden-test comparison (llm.c test_gpt2.c style): compares two tensors elementwise with
// |a-e| <= atol + rtol*|e| and, on failure, reports shape, max abs/rel difference and where.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

namespace ibllm::test {

struct MatchResult {
  bool ok = false;
  std::string report;  // always filled: "name: max_abs 1.2e-07 max_rel 3e-07 (rtol 1e-05 atol 1e-06)"
};

MatchResult tensor_match(const at::Tensor& actual, const at::Tensor& expected, double rtol,
                         double atol, const std::string& name = "tensor");

}  // namespace ibllm::test

// CHECK with the report printed on failure (and INFO-logged on success).
#define IBLLM_CHECK_TENSOR(actual, expected, rtol, atol)                                   \
  do {                                                                                    \
    auto _m = ::ibllm::test::tensor_match((actual), (expected), (rtol), (atol), #actual); \
    INFO(_m.report);                                                                      \
    CHECK(_m.ok);                                                                         \
  } while (0)
