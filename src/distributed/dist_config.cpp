// Parses the `dist:` section; see dist_config.h.
#include "src/distributed/dist_config.h"

namespace ibllm::dist {

const core::ChoiceTable<Backend>& backend_names() {
  static const core::ChoiceTable<Backend> t = {
      {"auto", Backend::kAuto}, {"nccl", Backend::kNccl}, {"gloo", Backend::kGloo}};
  return t;
}

DistConfig parse_dist_config(config::Section s) {
  DistConfig c;
  s.choice("backend", c.backend, backend_names());
  s.field("timeout_s", c.timeout_s, config::at_least(1));
  s.field("master_addr", c.master_addr);
  s.field("master_port", c.master_port, config::between(0, 65535));
  s.field("bucket_mb", c.bucket_mb, config::positive());
  s.field("bf16_grad_comm", c.bf16_grad_comm);
  s.field("overlap", c.overlap);
  s.field("zero_stage", c.zero_stage, config::between(0, 1));
  return c;
}

}  // namespace ibllm::dist
