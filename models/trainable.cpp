// Trainable-set selection by glob patterns; see trainable.h.
#include "models/trainable.h"

#include <set>
#include <sstream>

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include "src/config/section.h"
#include "src/core/error.h"
#include "src/core/strings.h"
#include "src/io/state_dict.h"

namespace ibllm::models {
namespace {

std::vector<std::string> preset_patterns(TrainablePreset preset) {
  switch (preset) {
    case TrainablePreset::kPretrain:
      return {"image_bind_*", "prefix_query.*", "llama.layers.*.attention.gate"};
    case TrainablePreset::kFinetune:
      return {"llama.*norm*", "llama.*bias*", "llama.*lora*"};
    case TrainablePreset::kNone:
      break;
  }
  return {};
}

}  // namespace

const core::ChoiceTable<TrainablePreset>& trainable_preset_names() {
  static const core::ChoiceTable<TrainablePreset> t = {{"pretrain", TrainablePreset::kPretrain},
                                                       {"finetune", TrainablePreset::kFinetune},
                                                       {"none", TrainablePreset::kNone}};
  return t;
}

TrainableConfig parse_trainable_config(config::Section s) {
  TrainableConfig c;
  s.choice("preset", c.preset, trainable_preset_names());
  s.field("include", c.include);
  s.field("exclude", c.exclude);
  return c;
}

std::vector<std::string> trainable_patterns(const TrainableConfig& c) {
  auto p = preset_patterns(c.preset);
  p.insert(p.end(), c.include.begin(), c.include.end());
  return p;
}

TrainableReport select_trainable(torch::nn::Module& model, const TrainableConfig& c) {
  const auto patterns = trainable_patterns(c);
  std::vector<int64_t> hit_tensors(patterns.size(), 0), hit_values(patterns.size(), 0);
  std::vector<int64_t> excl_hits(c.exclude.size(), 0);
  TrainableReport r;
  for (const auto& p : model.named_parameters(/*recurse=*/true)) {
    bool selected = false;
    for (size_t i = 0; i < patterns.size(); ++i)
      if (io::glob_match(patterns[i], p.key())) {
        if (!selected) {
          ++hit_tensors[i];
          hit_values[i] += p.value().numel();
        }
        selected = true;
      }
    for (size_t i = 0; selected && i < c.exclude.size(); ++i)
      if (io::glob_match(c.exclude[i], p.key())) {
        ++excl_hits[i];
        selected = false;
      }
    if (selected) {
      r.names.push_back(p.key());
      r.trainable_params += p.value().numel();
    } else {
      r.frozen_params += p.value().numel();
    }
  }
  std::vector<std::string> empty;
  for (size_t i = 0; i < patterns.size(); ++i)
    if (hit_tensors[i] == 0) empty.push_back("'" + patterns[i] + "'");
  for (size_t i = 0; i < c.exclude.size(); ++i)
    if (excl_hits[i] == 0) empty.push_back("exclude '" + c.exclude[i] + "'");
  if (!empty.empty())
    throw ConfigError("model.trainable: pattern(s) " + core::join(empty, ", ") +
                          " select no parameter of this model",
                      c.preset == TrainablePreset::kFinetune
                          ? "the finetune preset needs model.llama.w_bias and w_lora set to true"
                          : "check the names with `ibllm inspect` on a checkpoint");
  std::ostringstream s;
  for (size_t i = 0; i < patterns.size(); ++i)
    s << "  " << patterns[i] << ": " << hit_tensors[i] << " tensors, " << hit_values[i]
      << " values\n";
  s << "  trainable " << r.trainable_params << " / frozen " << r.frozen_params << " values";
  r.summary = s.str();
  return r;
}

TrainableReport apply_trainable(torch::nn::Module& model, const TrainableConfig& c) {
  auto r = select_trainable(model, c);
  std::set<std::string> chosen(r.names.begin(), r.names.end());
  at::NoGradGuard guard;
  for (auto& p : model.named_parameters(true)) {
    auto t = p.value();
    const bool train = chosen.count(p.key()) > 0;
    if (train && at::isFloatingType(t.scalar_type()) && t.scalar_type() != at::kFloat)
      t.set_data(t.to(at::kFloat));  // fp32 master weight (the reference casts trainables too)
    t.set_requires_grad(train);
  }
  return r;
}

}  // namespace ibllm::models
