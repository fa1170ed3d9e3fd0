// Parses the `checkpoint:` section; see checkpoint_config.h.
#include "src/checkpoint/checkpoint_config.h"

namespace ibllm::checkpoint {

ResumeFrom ResumeFrom::parse(const std::string& value) {
  ResumeFrom r;
  if (value == "auto") return r;
  r.mode = value == "never" ? Mode::kNever : Mode::kPath;
  if (r.mode == Mode::kPath) r.path = value;
  return r;
}

std::string ResumeFrom::str() const {
  switch (mode) {
    case Mode::kAuto: return "auto";
    case Mode::kNever: return "never";
    case Mode::kPath: break;
  }
  return path;
}

const core::ChoiceTable<OnWriteError>& on_write_error_names() {
  static const core::ChoiceTable<OnWriteError> t = {{"stop", OnWriteError::kStop},
                                                    {"continue", OnWriteError::kContinue}};
  return t;
}

CheckpointConfig parse_checkpoint_config(config::Section s) {
  CheckpointConfig c;
  s.field("every_steps", c.every_steps, config::at_least(0));
  s.field("keep_last", c.keep_last, config::at_least(0));
  std::string resume = c.resume.str();
  s.field("resume", resume);
  s.field("save_optimizer", c.save_optimizer);
  s.choice("on_write_error", c.on_write_error, on_write_error_names());
  if (resume.find_first_not_of(" \t") == std::string::npos) {
    s.fail("resume",
           "must be `auto`, `never` or the path of a checkpoint (or checkpoints/) directory");
  } else {
    c.resume = ResumeFrom::parse(resume);
  }
  return c;
}

}  // namespace ibllm::checkpoint
