// GradSync with overlap on ranks that are threads of this process (tests/unit/threaded_communicator):
// the averaged gradients equal the post-backward sync bit for bit and the true mean, while bucket
// all-reduces run on other threads during backward. Under `tests/sanitizers/run.sh thread` this is
// the gradient-sync case ThreadSanitizer can judge: every thread and lock involved is ours and
// instrumented (the Gloo tests' collectives run inside the uninstrumented libtorch_cpu).
#include "tests/support/catch.h"

#include <thread>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "src/distributed/dist_config.h"
#include "src/distributed/grad_sync.h"
#include "tests/unit/threaded_communicator.h"

using namespace ibllm;

namespace {

constexpr int kLayers = 5;

// Per-thread generators: at::manual_seed's global generator would be shared by the rank threads.
at::Tensor randn(at::IntArrayRef size, uint64_t seed) {
  return at::randn(size, at::make_generator<at::CPUGeneratorImpl>(seed));
}

struct Net {
  std::vector<at::Tensor> params;  // W_k (16x16), b_k (16); identical on every rank
  Net() {
    for (int k = 0; k < kLayers; ++k) {
      params.push_back((randn({16, 16}, 10 + k) * 0.3).requires_grad_(true));
      params.push_back((randn({16}, 20 + k) * 0.1).requires_grad_(true));
    }
  }
  at::Tensor loss(int rank, int step, int micro) const {
    at::Tensor x = randn({8, 16}, 1000 + 100 * rank + 10 * step + micro);
    for (int k = 0; k < kLayers; ++k) x = at::tanh(at::matmul(x, params[2 * k]) + params[2 * k + 1]);
    return x.pow(2).sum();
  }
  std::vector<at::Tensor> grads() const {
    std::vector<at::Tensor> g;
    for (const auto& p : params) g.push_back(p.grad());
    return g;
  }
  void zero_grad() {
    for (auto& p : params) p.mutable_grad() = at::Tensor();
  }
};

// Two steps of two micro-batches; the averaged grads of both, and the buckets started in backward.
std::vector<at::Tensor> train(dist::Communicator& comm, bool overlap, size_t* started) {
  Net net;
  dist::DistConfig cfg;
  cfg.bucket_mb = 1100.0 / (1024.0 * 1024.0);  // about one layer per bucket
  cfg.overlap = overlap;
  dist::GradSync sync(comm, net.params, cfg);
  std::vector<at::Tensor> out;
  *started = 0;
  const int r = static_cast<int>(comm.rank());
  for (int step = 0; step < 2; ++step) {
    net.loss(r, step, 0).backward();
    sync.begin_final_backward();
    net.loss(r, step, 1).backward();
    *started += sync.started_in_backward();
    auto g = net.grads();
    sync.average(g);
    for (auto& t : g) out.push_back(t.clone());
    net.zero_grad();
  }
  return out;
}

}  // namespace

TEST_CASE("dist threads: overlapped GradSync on an asynchronous in-process group equals the mean",
          "[dist][overlap]") {
  for (int world : {2, 3}) {
    auto comms = test::make_threaded_group(world);
    std::vector<std::vector<at::Tensor>> on(world), off(world);
    std::vector<size_t> started(world), started_off(world);
    std::vector<std::string> errors(world);
    std::vector<std::thread> ranks;
    for (int r = 0; r < world; ++r)
      ranks.emplace_back([&, r] {
        try {
          on[r] = train(*comms[r], true, &started[r]);
          off[r] = train(*comms[r], false, &started_off[r]);
        } catch (const std::exception& e) {
          errors[r] = e.what();
        }
      });
    for (auto& t : ranks) t.join();
    for (int r = 0; r < world; ++r) REQUIRE(errors[r].empty());

    // The mean over ranks in double, from per-rank grads computed without any communicator.
    std::vector<at::Tensor> mean;
    for (int step = 0; step < 2; ++step) {
      std::vector<at::Tensor> acc;
      for (int r = 0; r < world; ++r) {
        Net net;
        net.loss(r, step, 0).backward();
        net.loss(r, step, 1).backward();
        auto g = net.grads();
        for (size_t i = 0; i < g.size(); ++i) {
          if (acc.size() <= i) acc.push_back(at::zeros(g[i].sizes(), at::kDouble));
          acc[i] += g[i].to(at::kDouble);
        }
      }
      for (auto& a : acc) mean.push_back(a / world);
    }
    INFO("world " << world);
    for (int r = 0; r < world; ++r) {
      CHECK(started[r] >= 2 * static_cast<size_t>(kLayers) - 2);  // buckets ran during backward
      CHECK(started_off[r] == 0);
      REQUIRE(on[r].size() == mean.size());
      for (size_t i = 0; i < mean.size(); ++i) {
        INFO("rank " << r << " grad " << i);
        CHECK(at::equal(on[r][i], off[r][i]));
        CHECK(at::equal(on[r][i], on[0][i]));  // every rank holds the same average
        const double scale = mean[i].abs().max().item<double>() + 1e-12;
        // fp32 sums in another order than the double reference: 1e-6 of the largest element.
        CHECK((on[r][i].to(at::kDouble) - mean[i]).abs().max().item<double>() / scale <= 1e-6);
      }
    }
  }
}
