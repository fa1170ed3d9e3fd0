// parse_run_config: one function walks every section so all errors land in one report.
#include "trainers/run_config.h"

#include <algorithm>
#include <filesystem>

#include "data/tokenizer.h"
#include "src/core/error.h"

namespace ibllm::train {

RunSection parse_run_section(config::Section s) {
  RunSection r;
  s.field("name", r.name);
  s.field("output_dir", r.output_dir);
  s.field("seed", r.seed, config::at_least(0));
  s.choice("log_level", r.log_level, {"trace", "debug", "info", "warn", "error", "off"});
  s.field("threads", r.threads, config::between(0, 1024));
  s.choice("device", r.device, {"auto", "cpu", "cuda"});
  if (r.name.empty() || r.name.find('/') != std::string::npos)
    s.fail("name", "run name must be non-empty and contain no '/' (it names the run directory)");
  return r;
}

namespace {

// Cross-section rules: each is reported at the key the user most likely has to change.
void check_consistency(const RunConfig& c, config::Section root) {
  auto data = root.child("data");
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
  for (size_t i = 0; i < c.data.sources.size(); ++i) {
    const auto& src = c.data.sources[i];
    std::string at = "sources[" + std::to_string(i) + "].";
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
  c.data = data::parse_data_config(root.child("data"));
  c.optim = parse_optim_config(root.child("optim"));
  c.schedule = parse_schedule_config(root.child("schedule"));
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
