// load_state_dict: complete reports (every missing/unexpected/shape/dtype key), strict vs
// non-strict, atomicity on failure, prefix rules and ignore globs, dtype casting, and a real
// torch.save state_dict loaded into the equivalent C++ module.
#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "src/core/error.h"
#include "src/io/pth_reader.h"
#include "src/io/state_dict.h"
#include "tests/support/catch.h"
#include "tests/support/paths.h"

using ibllm::CheckpointError;
using namespace ibllm::io;

namespace {

// The C++ twin of `Tiny` in tests/golden/gen/pth_fixtures.py (same registration names).
struct TinyImpl : torch::nn::Module {
  TinyImpl() {
    embed = register_module("embed", torch::nn::Embedding(5, 4));
    blocks = register_module("blocks", torch::nn::ModuleList());
    blocks->push_back(torch::nn::Linear(4, 3));
    blocks->push_back(torch::nn::Linear(torch::nn::LinearOptions(3, 2).bias(false)));
    norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({2})));
    bn = register_module("bn", torch::nn::BatchNorm1d(2));
    scale = register_buffer("scale", at::zeros({}, at::kDouble));
  }
  torch::nn::Embedding embed{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::LayerNorm norm{nullptr};
  torch::nn::BatchNorm1d bn{nullptr};
  at::Tensor scale;
};

std::map<std::string, at::Tensor> full_checkpoint(TinyImpl& m) {
  std::map<std::string, at::Tensor> out;
  for (const auto& [k, v] : module_state(m))
    out[k] = at::rand_like(v.to(at::kFloat)).to(v.scalar_type()) + 1;
  return out;
}

std::string error_of(TinyImpl& m, const std::map<std::string, at::Tensor>& sd,
                     const StateDictOptions& o) {
  try {
    load_state_dict(m, sd, o);
  } catch (const CheckpointError& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace

TEST_CASE("glob_match", "[io]") {
  CHECK(glob_match("*.rope.freqs", "layers.3.attention.inner_attention.rope.freqs"));
  CHECK(glob_match("rope.freqs", "rope.freqs"));
  CHECK_FALSE(glob_match("*.rope.freqs", "rope.freqs"));
  CHECK(glob_match("layers.?.w*", "layers.7.wq.weight"));
  CHECK_FALSE(glob_match("layers.?.w*", "layers.17.wq.weight"));
  CHECK(glob_match("*", ""));
  CHECK(glob_match("a*b*c", "a__b__b__c"));
  CHECK_FALSE(glob_match("a*b*c", "a__b__b__"));
}

TEST_CASE("load_state_dict: exact strict load copies every tensor", "[io]") {
  TinyImpl m;
  const auto sd = full_checkpoint(m);
  const auto r = load_state_dict(m, sd);
  CHECK(r.loaded.size() == sd.size());
  CHECK(r.missing.empty());
  CHECK(r.unexpected.empty());
  for (const auto& [k, v] : module_state(m)) CHECK(at::equal(v, sd.at(k)));
}

TEST_CASE("load_state_dict: strict failure lists every problem and loads nothing", "[io]") {
  TinyImpl m;
  auto sd = full_checkpoint(m);
  const auto before = m.embed->weight.clone();
  sd.erase("norm.weight");
  sd.erase("bn.running_var");
  sd["extra.a"] = at::zeros({1});
  sd["extra.b"] = at::zeros({1});
  sd["blocks.0.bias"] = at::zeros({7});
  sd["blocks.1.weight"] = at::zeros({3, 3});
  const auto msg = error_of(m, sd, {});
  for (const char* key :
       {"norm.weight", "bn.running_var", "extra.a", "extra.b", "blocks.0.bias", "blocks.1.weight",
        "2 missing", "2 unexpected", "2 shape mismatches", "nothing was loaded"}) {
    INFO(key);
    CHECK_THAT(msg, Catch::Matchers::Contains(key));
  }
  CHECK(at::equal(m.embed->weight, before));  // atomic: the valid keys were not copied either
}

TEST_CASE("load_state_dict: non-strict reports missing/unexpected but refuses shape errors",
          "[io]") {
  TinyImpl m;
  auto sd = full_checkpoint(m);
  sd.erase("norm.bias");
  sd["unused"] = at::zeros({2});
  StateDictOptions o;
  o.strict = false;
  const auto r = load_state_dict(m, sd, o);
  CHECK(r.missing == std::vector<std::string>{"norm.bias"});
  CHECK(r.unexpected == std::vector<std::string>{"unused"});
  CHECK(at::equal(m.norm->weight, sd.at("norm.weight")));
  CHECK_THAT(r.summary(),
             Catch::Matchers::Contains("norm.bias") && Catch::Matchers::Contains("unused"));
  sd["norm.weight"] = at::zeros({3});
  CHECK_THAT(error_of(m, sd, o),
             Catch::Matchers::Contains("norm.weight: model [2] Float, checkpoint [3] Float"));
}

TEST_CASE("load_state_dict: prefix rules, ignore globs, key collisions", "[io]") {
  TinyImpl m;
  const auto base = full_checkpoint(m);
  std::map<std::string, at::Tensor> sd;
  for (const auto& [k, v] : base) {
    // "module." from DDP, and an old name for the first block.
    std::string key = k.rfind("blocks.0.", 0) == 0 ? "legacy0." + k.substr(9) : k;
    sd["module." + key] = v;
  }
  sd["module.rope.freqs"] = at::zeros({4});
  StateDictOptions o;
  o.strip_prefix = "module.";
  o.renames = {{"legacy0.", "blocks.0."}};
  o.ignore_unexpected = {"rope.freqs", "*.rope.freqs"};
  const auto r = load_state_dict(m, sd, o);
  CHECK(r.loaded.size() == base.size());
  CHECK(r.ignored == std::vector<std::string>{"rope.freqs"});
  CHECK(at::equal(m.blocks[0]->as<torch::nn::Linear>()->bias, base.at("blocks.0.bias")));
  CHECK(rewrite_key("x.y", {false, "", {}, "llama."}) == "llama.x.y");

  // ignore_missing lets a module keep buffers the checkpoint never had.
  auto partial = base;
  partial.erase("scale");
  StateDictOptions im;
  im.ignore_missing = {"scale"};
  CHECK(load_state_dict(m, partial, im).ignored == std::vector<std::string>{"scale"});

  // Two checkpoint keys landing on one module key is an error, never a silent overwrite.
  auto dup = base;
  dup["module.norm.weight"] = base.at("norm.weight");
  StateDictOptions strip;
  strip.strip_prefix = "module.";
  CHECK_THROWS_AS(load_state_dict(m, dup, strip), CheckpointError);
}

TEST_CASE("load_state_dict: dtype conversion on load, or an error when disabled", "[io]") {
  TinyImpl m;
  auto sd = full_checkpoint(m);
  sd["embed.weight"] = sd["embed.weight"].to(at::kHalf);
  const auto r = load_state_dict(m, sd);
  REQUIRE(r.dtype_mismatch.size() == 1);
  CHECK(r.dtype_mismatch[0].key == "embed.weight");
  CHECK(m.embed->weight.scalar_type() == at::kFloat);
  CHECK(at::equal(m.embed->weight, sd["embed.weight"].to(at::kFloat)));
  StateDictOptions o;
  o.convert_dtype = false;
  CHECK_THAT(error_of(m, sd, o),
             Catch::Matchers::Contains("embed.weight: model [5, 4] Float, checkpoint [5, 4] Half"));
}

TEST_CASE("load_state_dict: a torch.save state_dict into the equivalent C++ module",
          "[io][golden]") {
  TinyImpl m;
  PthFile f((ibllm::test::source_dir() / "tests/golden/fixtures/io/pth_state_dict.pt").string());
  const auto sd = f.tensors();
  const auto r = load_state_dict(m, sd);
  CHECK(r.loaded.size() == 12);
  CHECK(m.bn->num_batches_tracked.item<int64_t>() == 7);
  CHECK(m.bn->running_mean[1].item<float>() == Approx(-0.2f));
  CHECK(m.scale.item<double>() == 0.5);
  CHECK(at::equal(m.blocks[1]->as<torch::nn::Linear>()->weight, sd.at("blocks.1.weight")));
}

TEST_CASE("load_state_dict: straight to the GPU from a mapped file", "[io][cuda]") {
  if (!at::hasCUDA()) IBLLM_SKIP("no CUDA device");
  TinyImpl m;
  m.to(at::Device(at::kCUDA, 0));
  PthFile f((ibllm::test::source_dir() / "tests/golden/fixtures/io/pth_state_dict.pt").string());
  const auto sd = f.tensors();
  load_state_dict(m, sd);
  CHECK(m.embed->weight.device().is_cuda());
  CHECK(at::equal(m.embed->weight.cpu(), sd.at("embed.weight")));
  const auto moved = to_device(sd, at::Device(at::kCUDA, 0), at::kBFloat16);
  CHECK(moved.at("embed.weight").scalar_type() == at::kBFloat16);
}

TEST_CASE("to_device casts floating tensors and moves a whole map", "[io]") {
  const std::map<std::string, at::Tensor> sd{{"a", at::arange(4, at::kFloat)},
                                             {"n", at::ones({2}, at::kLong)}};
  const auto same = to_device(sd, at::Device(at::kCPU));
  CHECK(same.at("a").data_ptr() == sd.at("a").data_ptr());  // no copy when nothing changes
  const auto half = to_device(sd, at::Device(at::kCPU), at::kHalf);
  CHECK(half.at("a").scalar_type() == at::kHalf);
  CHECK(half.at("n").scalar_type() == at::kLong);  // integer buffers are never cast
  CHECK(at::equal(half.at("a").to(at::kFloat), sd.at("a")));
}
