// collate(): padding, stacking and the valid-label count (see header).
#include "data/collate.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "src/core/error.h"

namespace ibllm::data {

Batch batch_on(const Batch& b, const at::Device& device) {
  Batch out = b;
  for (at::Tensor* t : {&out.tokens, &out.labels, &out.images, &out.features, &out.has_visual})
    if (t->defined()) *t = t->to(device, /*non_blocking=*/true);
  return out;
}

Batch collate(const std::vector<Sample>& samples, const CollateOptions& o) {
  Batch b;
  const int64_t n = static_cast<int64_t>(samples.size());
  int64_t t = 0;
  for (const auto& s : samples)
    t = std::max<int64_t>(t, static_cast<int64_t>(s.text.tokens.size()));
  if (t > o.max_words) throw DataError("collate: a sample is longer than max_words");
  if (o.padding == PaddingMode::kFixed) t = o.max_words;
  b.tokens = at::full({n, t}, o.token_pad, at::kLong);
  b.labels = at::full({n, t}, o.ignore_index, at::kLong);
  b.ignore_index = o.ignore_index;
  b.has_visual = at::zeros({n}, at::kBool);
  auto* tok = b.tokens.data_ptr<int64_t>();
  auto* lab = b.labels.data_ptr<int64_t>();
  auto* vis = b.has_visual.data_ptr<bool>();
  std::vector<at::Tensor> visuals;
  for (int64_t i = 0; i < n; ++i) {
    const Sample& s = samples[i];
    if (s.text.tokens.size() != s.text.labels.size())
      throw DataError("collate: tokens and labels differ in length for sample " +
                      std::to_string(s.index));
    std::copy(s.text.tokens.begin(), s.text.tokens.end(), tok + i * t);
    std::copy(s.text.labels.begin(), s.text.labels.end(), lab + i * t);
    for (size_t j = 1; j < s.text.labels.size(); ++j)
      b.valid_label_tokens += s.text.labels[j] != o.ignore_index;
    b.truncated += s.text.truncated ? 1 : 0;
    b.indices.push_back(s.index);
    b.modalities.push_back(s.modalities);
    vis[i] = s.has_visual;
    if (s.has_visual && s.visual.defined()) {
      visuals.push_back(s.visual);
    } else {
      visuals.push_back(o.feature_mode ? at::zeros({o.feature_dim}, at::kFloat)
                                       : at::zeros({3, o.image_size, o.image_size}, at::kFloat));
    }
  }
  at::Tensor stacked =
      n > 0 ? at::stack(visuals)
            : (o.feature_mode ? at::zeros({0, o.feature_dim}, at::kFloat)
                              : at::zeros({0, 3, o.image_size, o.image_size}, at::kFloat));
  if (o.feature_mode)
    b.features = stacked;
  else
    b.images = stacked;
  return b;
}

}  // namespace ibllm::data
