// parse_run_config: one function walks every section so all errors land in one report.
#include "trainers/run_config.h"

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

RunConfig parse_run_config(config::Document& doc) {
  RunConfig c;
  auto root = doc.root();
  c.run = parse_run_section(root.child("run"));
  c.optim = parse_optim_config(root.child("optim"));
  c.schedule = parse_schedule_config(root.child("schedule"));
  doc.finish();
  return c;
}

RunConfig load_run_config(const std::string& path, const std::vector<std::string>& overrides,
                          std::string* resolved_yaml) {
  auto doc = config::Document::load(path, overrides);
  RunConfig c = parse_run_config(doc);
  if (resolved_yaml) *resolved_yaml = doc.resolved_yaml();
  return c;
}

}  // namespace ibllm::train
