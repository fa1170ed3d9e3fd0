// tensor_match: elementwise golden comparison with a readable report (see tensor_match.h).
#include "tests/support/tensor_match.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <sstream>

namespace ibllm::test {

MatchResult tensor_match(const at::Tensor& actual, const at::Tensor& expected, double rtol,
                         double atol, const std::string& name) {
  MatchResult r;
  if (!actual.defined() || !expected.defined()) {
    r.report = name + ": undefined tensor";
    return r;
  }
  if (actual.sizes() != expected.sizes()) {
    std::ostringstream os;
    os << name << ": shape " << actual.sizes() << " != expected " << expected.sizes();
    r.report = os.str();
    return r;
  }
  auto a = actual.detach().to(at::kCPU, at::kDouble);
  auto e = expected.detach().to(at::kCPU, at::kDouble);
  if (a.numel() == 0) {
    r.ok = true;
    r.report = name + ": empty";
    return r;
  }
  auto diff = (a - e).abs();
  auto tol = atol + rtol * e.abs();
  auto bad = diff > tol;
  auto nan_mismatch = a.isnan() != e.isnan();
  int64_t n_bad = (bad.logical_or(nan_mismatch)).sum().item<int64_t>();
  double max_abs = diff.nan_to_num(0).max().item<double>();
  double max_rel = (diff / e.abs().clamp_min(1e-30)).nan_to_num(0).max().item<double>();
  int64_t where = diff.nan_to_num(0).flatten().argmax().item<int64_t>();
  r.ok = n_bad == 0;
  r.report = fmt::format("{}: max_abs {:.3g} max_rel {:.3g} at flat index {} ({} of {} outside rtol {:g} atol {:g})",
                         name, max_abs, max_rel, where, n_bad, a.numel(), rtol, atol);
  return r;
}

}  // namespace ibllm::test
