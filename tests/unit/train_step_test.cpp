// TrainStep: exact token normalisation under accumulation (two micro-batches of one row each
// give the loss and gradient of the two-row batch, although their valid-token counts differ),
// the reference mean-of-means mode, and the non-finite guard (no update, weights bitwise intact).
#include <ATen/ATen.h>

#include "models/imagebind_llm.h"
#include "models/imagebind_llm_weights.h"
#include "models/trainable.h"
#include "tests/support/catch.h"
#include "trainers/adamw.h"
#include "trainers/train_step.h"

namespace {

using namespace ibllm;

struct Fixture {
  models::ImageBindLlm model{nullptr};
  std::vector<train::NamedParameter> params;

  Fixture() {
    models::ImageBindLlmConfig c;
    c.llama = models::llama_preset("tiny");
    c.imagebind.out_dim = 16;
    c.build_imagebind = false;
    model = models::ImageBindLlm(c);
    models::ModelInitConfig init;
    init.random_base = true;
    models::initialize_model(*model, init, 3);
    {
      at::NoGradGuard g;  // non-zero gates so the whole adapter path carries gradient
      for (auto& p : model->named_parameters(true))
        if (p.key().find("gate") != std::string::npos) p.value().fill_(0.5);
    }
    auto r = models::apply_trainable(*model, models::TrainableConfig{});
    for (const auto& p : model->named_parameters(true))
      if (std::find(r.names.begin(), r.names.end(), p.key()) != r.names.end())
        params.push_back({p.key(), p.value()});
  }
};

data::Batch make_batch(const at::Tensor& tokens, const at::Tensor& labels, const at::Tensor& f) {
  data::Batch b;
  b.tokens = tokens;
  b.labels = labels;
  b.features = f;
  b.has_visual = at::ones({tokens.size(0)}, at::kBool);
  b.ignore_index = -100;
  b.valid_label_tokens = labels.narrow(1, 1, labels.size(1) - 1).ne(-100).sum().item<int64_t>();
  for (int64_t i = 0; i < tokens.size(0); ++i) b.indices.push_back(i);
  return b;
}

}  // namespace

TEST_CASE("train_step: accumulation normalises by the step's valid tokens exactly", "[train]") {
  auto gen = at::detail::createCPUGenerator(11);
  auto tokens = at::randint(3, 64, {2, 10}, gen, at::kLong);
  auto labels = tokens.clone();
  labels[0].narrow(0, 0, 2).fill_(-100);  // row 0: 8 supervised targets
  labels[1].narrow(0, 0, 7).fill_(-100);  // row 1: 3 supervised targets
  auto f = at::randn({2, 16}, gen);
  auto whole = make_batch(tokens, labels, f);
  auto r0 = make_batch(tokens.narrow(0, 0, 1), labels.narrow(0, 0, 1), f.narrow(0, 0, 1));
  auto r1 = make_batch(tokens.narrow(0, 1, 1), labels.narrow(0, 1, 1), f.narrow(0, 1, 1));
  REQUIRE(r0.valid_label_tokens == 8);
  REQUIRE(r1.valid_label_tokens == 3);

  train::OptimConfig oc;
  train::TrainerConfig tc;
  auto run = [&](const std::vector<data::Batch>& micro, train::LossNorm norm) {
    Fixture fx;
    tc.loss_norm = norm;
    train::AdamW opt(fx.params, oc);
    train::TrainStep step(*fx.model, fx.params, opt, tc, oc);
    return step.run(micro, 1e-3);
  };
  auto a = run({whole}, train::LossNorm::kTokens);
  auto b = run({r0, r1}, train::LossNorm::kTokens);
  CHECK(a.tokens == 11);
  CHECK(b.tokens == 11);
  CHECK(a.applied);
  CHECK(b.loss == Approx(a.loss).epsilon(1e-6));
  CHECK(b.grad_norm == Approx(a.grad_norm).epsilon(1e-5));
  // the reference's mean of per-micro-batch means weights row 1's three tokens like row 0's eight
  auto ref = run({r0, r1}, train::LossNorm::kReference);
  auto m0 = run({r0}, train::LossNorm::kTokens), m1 = run({r1}, train::LossNorm::kTokens);
  CHECK(ref.loss == Approx((m0.loss + m1.loss) / 2).epsilon(1e-6));
  CHECK(std::abs(ref.loss - a.loss) > 1e-4);
}

TEST_CASE("train_step: a non-finite loss skips the update and leaves the weights intact",
          "[train]") {
  Fixture fx;
  train::OptimConfig oc;
  train::TrainerConfig tc;
  train::AdamW opt(fx.params, oc);
  train::TrainStep step(*fx.model, fx.params, opt, tc, oc);
  std::vector<at::Tensor> before;
  for (const auto& p : fx.params) before.push_back(p.param.detach().clone());
  auto tokens = at::randint(3, 64, {2, 8}, at::kLong);
  auto bad = make_batch(tokens, tokens.clone(), at::full({2, 16}, NAN));
  auto st = step.run({bad}, 1e-3);
  CHECK_FALSE(st.finite);
  CHECK_FALSE(st.applied);
  CHECK(opt.steps_taken() == 0);
  for (size_t i = 0; i < before.size(); ++i) {
    INFO(fx.params[i].name);
    CHECK(at::equal(before[i], fx.params[i].param));
    CHECK_FALSE(fx.params[i].param.grad().defined());
  }
  auto good = make_batch(tokens, tokens.clone(), at::randn({2, 16}));
  auto ok = step.run({good}, 1e-3);
  CHECK(ok.finite);
  CHECK(ok.applied);
  CHECK(opt.steps_taken() == 1);
  CHECK_FALSE(at::equal(before[0], fx.params[0].param));
}
