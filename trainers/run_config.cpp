// parse_run_config: one function walks every section so all errors land in one report.
#include "trainers/run_config.h"

#include <algorithm>
#include <filesystem>

#include "data/tokenizer.h"
#include "src/core/error.h"

namespace ibllm::train {

models::ImageBindLlmConfig ModelConfig::arch() const {
  models::ImageBindLlmConfig a;
  a.llama = llama;
  a.imagebind = imagebind;
  a.bind = bind;
  a.mixing = mixing;
  a.query_layer = query_layer;
  a.build_imagebind = build_imagebind;
  return a;
}

RunSection parse_run_section(config::Section s) {
  RunSection r;
  s.field("name", r.name);
  s.field("output_dir", r.output_dir);
  s.field("seed", r.seed, config::at_least(0));
  s.choice("log_level", r.log_level, core::log_level_names());
  s.field("threads", r.threads, config::between(0, 1024));
  s.choice("device", r.device, run_device_names());
  if (r.name.empty() || r.name.find('/') != std::string::npos)
    s.fail("name", "run name must be non-empty and contain no '/' (it names the run directory)");
  return r;
}

namespace {

// Cross-section rules: each is reported at the key the user most likely has to change.
void check_consistency(const RunConfig& c, config::Section root) {
  auto data = root.child("data");
  auto model = root.child("model");
  if (c.model.query_layer > c.model.llama.n_layers)
    model.fail("query_layer", "query_layer " + std::to_string(c.model.query_layer) +
                                  " exceeds model.llama.n_layers " +
                                  std::to_string(c.model.llama.n_layers));
  auto bind = model.child("bind");
  if (c.model.bind.in_dim != 0 && c.model.bind.in_dim != c.model.imagebind.out_dim)
    bind.fail("in_dim", "in_dim " + std::to_string(c.model.bind.in_dim) +
                            " differs from model.imagebind.out_dim " +
                            std::to_string(c.model.imagebind.out_dim) + " (leave it 0)");
  if (c.model.bind.dim != 0 && c.model.bind.dim != c.model.llama.dim)
    bind.fail("dim", "dim " + std::to_string(c.model.bind.dim) + " differs from model.llama.dim " +
                         std::to_string(c.model.llama.dim) + " (leave it 0)");
  if (c.model.trainable.preset == models::TrainablePreset::kFinetune && !(c.model.llama.w_bias || c.model.llama.w_lora))
    model.child("trainable").fail("preset", "the finetune preset trains LLaMA biases, LoRA and "
                                            "norms: set model.llama.w_bias and w_lora to true");
  if (c.data.max_words > c.model.llama.max_seq_len)
    data.fail("max_words", "max_words " + std::to_string(c.data.max_words) +
                               " exceeds model.llama.max_seq_len " +
                               std::to_string(c.model.llama.max_seq_len));
  const auto& mods = c.model.imagebind.modalities;
  const auto& in = c.model.imagebind.vision.input_size;
  if (std::find(mods.begin(), mods.end(), "vision") != mods.end() && in.size() == 2 &&
      (in[0] != c.data.image.size || in[1] != c.data.image.size))
    data.fail("image.size", "images are cropped to " + std::to_string(c.data.image.size) +
                                " but model.imagebind.vision.input_size is [" +
                                std::to_string(in[0]) + ", " + std::to_string(in[1]) + "]");
}

// File-level checks: everything a run would fail on at start-up, found without running it.
void check_resources(const RunConfig& c, config::Section root) {
  namespace fs = std::filesystem;
  auto data = root.child("data");
  auto init = root.child("model").child("init");
  for (auto [key, path] : {std::pair<const char*, std::string>{"imagebind", c.model.init.imagebind},
                           {"llama", c.model.init.llama},
                           {"checkpoint", c.model.init.checkpoint}})
    if (!path.empty() && !fs::exists(path))
      init.fail(key, "weights '" + path + "' do not exist");
  std::vector<std::pair<std::string, const data::SourceConfig*>> all;
  for (size_t i = 0; i < c.data.sources.size(); ++i)
    all.emplace_back("sources[" + std::to_string(i) + "].", &c.data.sources[i]);
  for (size_t i = 0; i < c.data.val_sources.size(); ++i)
    all.emplace_back("val_sources[" + std::to_string(i) + "].", &c.data.val_sources[i]);
  for (const auto& [at, srcp] : all) {
    const auto& src = *srcp;
    if (!src.path.empty() && !fs::is_regular_file(src.path))
      data.fail(at + "path", "data file '" + src.path + "' does not exist (paths are relative to "
                             "the working directory, " + fs::current_path().string() + ")");
    if (!src.features.empty() && !fs::is_regular_file(src.features))
      data.fail(at + "features", "feature cache '" + src.features + "' does not exist");
  }
  if (c.data.tokenizer.empty()) return;
  try {
    data::LlamaTokenizer tok(c.data.tokenizer);
    if (tok.vocab_size() > c.model.llama.vocab_size)
      data.fail("tokenizer", "the tokenizer has " + std::to_string(tok.vocab_size()) +
                                 " pieces but model.llama.vocab_size is " +
                                 std::to_string(c.model.llama.vocab_size));
  } catch (const DataError& e) {
    data.fail("tokenizer", e.what());
  }
}

}  // namespace

RunConfig parse_run_config(config::Document& doc, Checks checks) {
  RunConfig c;
  auto root = doc.root();
  c.run = parse_run_section(root.child("run"));
  auto model = root.child("model");
  c.model.llama = models::parse_llama_config(model.child("llama"));
  c.model.imagebind = models::parse_imagebind_config(model.child("imagebind"));
  c.model.bind = models::parse_bind_config(model.child("bind"));
  c.model.mixing = models::parse_mixing_config(model.child("mixing"));
  model.field("query_layer", c.model.query_layer, config::at_least(0));
  c.model.trainable = models::parse_trainable_config(model.child("trainable"));
  c.model.init = models::parse_model_init_config(model.child("init"));
  c.model.cache = models::parse_visual_cache_config(model.child("cache"));
  c.data = data::parse_data_config(root.child("data"));
  c.optim = parse_optim_config(root.child("optim"));
  c.schedule = parse_schedule_config(root.child("schedule"));
  c.trainer = parse_trainer_config(root.child("trainer"));
  c.checkpoint = checkpoint::parse_checkpoint_config(root.child("checkpoint"));
  c.dist = dist::parse_dist_config(root.child("dist"));
  c.bench = parse_bench_config(root.child("bench"));
  c.generation = models::parse_generation_config(root.child("generation"));
  c.model.build_imagebind = std::any_of(c.data.sources.begin(), c.data.sources.end(),
                                        [](const data::SourceConfig& s) { return s.features.empty(); });
  if (doc.error_count() == 0) {
    check_consistency(c, root);
    if (checks == Checks::kResources) check_resources(c, root);
  }
  doc.finish();
  return c;
}

RunConfig load_run_config(const std::string& path, const std::vector<std::string>& overrides,
                          std::string* resolved_yaml, Checks checks) {
  auto doc = config::Document::load(path, overrides);
  RunConfig c = parse_run_config(doc, checks);
  if (resolved_yaml) *resolved_yaml = doc.resolved_yaml();
  return c;
}

}  // namespace ibllm::train
