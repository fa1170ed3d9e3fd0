// Which checkpoint a run starts from (checkpoint.resume). Nothing here ever falls back to a fresh
// start silently: auto with only broken checkpoints, an unusable path, or `never` over a directory
// that already holds checkpoints all throw CheckpointError with what was found.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "src/checkpoint/checkpoint_config.h"

namespace ibllm::checkpoint {

// "never": nullopt (throws if <run_dir>/checkpoints already has step_<N> directories, because a
//          new run would mix with them and keep_last would prune the new ones first).
// "auto":  the newest complete checkpoint under <run_dir>/checkpoints, or nullopt when there is
//          none at all; incomplete/corrupt/stale entries are logged and appended to `report`.
//          Throws when checkpoints exist but none is complete.
// path:    a checkpoint dir, a checkpoints/ dir or a run dir; verified (sizes and CRCs); throws
//          naming the path and what is wrong. Relative paths are relative to the working directory.
std::optional<std::filesystem::path> resolve_resume(const CheckpointConfig& cfg,
                                                    const std::filesystem::path& run_dir,
                                                    std::vector<std::string>* report = nullptr);

}  // namespace ibllm::checkpoint
