// The `checkpoint:` section of a run config: how often to save, how many to keep, how to resume.
// `resume` is `auto`, `never` or a path, parsed into ResumeFrom at load (a path is a legal value, so
// it is not a plain choice); whether the path exists is checked when resuming (resolve_resume).
#pragma once

#include <cstdint>
#include <string>

#include "src/config/section.h"
#include "src/core/choice_table.h"

namespace ibllm::checkpoint {

struct ResumeFrom {
  enum class Mode { kAuto, kNever, kPath };
  Mode mode = Mode::kAuto;  // kAuto: the newest complete checkpoint of the run, if any
  std::string path;         // kPath: a checkpoint dir, a checkpoints/ dir or a run dir

  // "auto" | "never" | anything else = a path (the YAML spelling, for the resolved config).
  static ResumeFrom parse(const std::string& value);
  std::string str() const;
};

// What a periodic save does when its files cannot be written (disk full, quota, unwritable):
// kStop ends the run with the error (the default); kContinue logs it, keeps training and tries
// again at the next interval. The final save and the save on SIGTERM/SIGINT always stop.
enum class OnWriteError { kStop, kContinue };
const core::ChoiceTable<OnWriteError>& on_write_error_names();  // stop, continue

struct CheckpointConfig {
  int64_t every_steps = 0;      // 0: only at the end (and on SIGTERM/SIGINT)
  int64_t keep_last = 3;        // 0 = keep all
  ResumeFrom resume;            // auto | never | <checkpoint dir, checkpoints/ dir or run dir>
  bool save_optimizer = true;
  OnWriteError on_write_error = OnWriteError::kStop;
};

CheckpointConfig parse_checkpoint_config(config::Section s);

}  // namespace ibllm::checkpoint
