// The checkpoint store: <run_dir>/checkpoints/step_<N>/ directories written atomically (build in
// step_<N>.tmp/, fsync every file and the directory, rename, fsync the parent, then replace the
// `latest` pointer), pruned to keep_last, and found again by the newest *complete* one. It is
// trainer-agnostic (the trainer fills CheckpointContents) and does no collectives: call save() on
// one rank only; a lock file turns a second concurrent saver into an error instead of a mess.
#pragma once

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "src/checkpoint/checkpoint_config.h"
#include "src/checkpoint/checkpoint_meta.h"
#include "src/core/error.h"
#include "src/core/kill_point.h"

namespace ibllm::checkpoint {

// A save whose files could not be written (disk full, quota, file size limit, unwritable
// directory). The partial step_<N>.tmp/ is gone and the previous checkpoint and `latest` are as
// they were; the message names the path, the error and the bytes the checkpoint needs.
class CheckpointWriteError : public CheckpointError {
 public:
  using CheckpointError::CheckpointError;
};

struct CheckpointContents {
  std::map<std::string, at::Tensor> model;              // trainable weights by reference key
  std::map<std::string, at::Tensor> optimizer;          // flat tensor names (e.g. "exp_avg.<key>")
  nlohmann::json state = nlohmann::json::object();      // step, epoch, cursor, world size, rng, ...
  std::string resolved_config;                          // the run's resolved YAML
  nlohmann::json signature = nlohmann::json::object();  // model signature (see make_signature)

  // Filled by load_checkpoint; save() ignores them.
  std::filesystem::path dir;
  int64_t step = -1;
  bool has_optimizer = false;
};

class CheckpointStore {
 public:
  CheckpointStore(std::filesystem::path run_dir, CheckpointConfig cfg);

  // Writes step_<step>/ atomically and returns its path; CheckpointWriteError when a file cannot be
  // written (nothing of the attempt is left behind). Removes stale *.tmp entries left by an
  // interrupted save first (each is logged and appended to `report`), replaces an existing
  // step_<step>/ atomically, writes `latest`, then prunes to keep_last.
  std::filesystem::path save(int64_t step, const CheckpointContents& c,
                             std::vector<std::string>* report = nullptr);

  // Newest complete checkpoint by step (its CRCs verified); incomplete, corrupt and stale
  // temporary entries are appended to `incomplete` as "<path>: <reason>". Throws CheckpointError
  // when a checkpoint newer than the chosen one has a format this build cannot read.
  std::optional<std::filesystem::path> find_latest(
      std::vector<std::string>* incomplete = nullptr) const;

  // True when a periodic save is due after `step` (every_steps > 0 and step a positive multiple).
  bool due(int64_t step) const;

  const std::filesystem::path& dir() const { return dir_; }  // <run_dir>/checkpoints
  const CheckpointConfig& config() const { return cfg_; }

  // For crash tests: called with the stage just completed ("model.safetensors", ...,
  // "meta.json", "renamed", "latest"). A hook may kill the process.
  void set_fault_hook(std::function<void(const std::string& stage)> hook) {
    hook_ = std::move(hook);
  }

 private:
  void prune(int64_t keep_step);
  void stage_done(const std::string& stage) const {
    if (hook_) hook_(stage);
    core::kill_point("checkpoint." + stage);  // IBLLM_TEST_KILL_AT (src/core/kill_point.h)
  }

  std::filesystem::path run_dir_;
  std::filesystem::path dir_;
  CheckpointConfig cfg_;
  std::function<void(const std::string&)> hook_;
};

// find_latest for any checkpoints/ directory.
std::optional<std::filesystem::path> find_latest_checkpoint(
    const std::filesystem::path& checkpoints_dir, std::vector<std::string>* incomplete = nullptr);

// `path` is a checkpoint directory, a checkpoints/ directory or a run directory (the newest
// complete checkpoint is taken for the last two). Verifies sizes, and CRCs unless `verify` is
// kSizes (for a directory resolve_resume/find_latest has just verified); throws CheckpointError
// naming the path and the problem. Tensors are owned CPU copies (no file mapping stays open).
CheckpointContents load_checkpoint(const std::filesystem::path& path, bool load_optimizer = true,
                                   Verify verify = Verify::kFull);

// Resolves `path` as load_checkpoint does and verifies the result fully, loading nothing.
// Checkpoints skipped on the way are logged and appended to `report`.
std::filesystem::path resolve_checkpoint_dir(const std::filesystem::path& path,
                                             std::vector<std::string>* report = nullptr);

}  // namespace ibllm::checkpoint
