// The position of a training run as a checkpoint's state.json records it: optimizer step, epoch,
// sample cursor, the non-finite-step streak, the global batch and world size it ran with, the
// planned total, why it was saved, the per-rank RNG states and unlogged metric sums. One typed
// struct both ways, so a damaged or hand-edited state.json fails with the file and the key named,
// not a JSON exception.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ibllm::checkpoint {

struct TrainingState {
  int64_t step = 0;
  int64_t epoch = 0;
  int64_t cursor = 0;        // global samples consumed in `epoch`
  int64_t bad_steps = 0;     // consecutive non-finite steps so far
  int64_t global_batch = 0;  // data.batch_size x trainer.grad_accum x ranks
  int64_t world_size = 1;
  int64_t total_steps = 0;
  std::string reason;        // every_steps, end, SIGTERM, SIGINT
  nlohmann::json rng = nlohmann::json::array();  // one capture_rng_state() per rank
  // One object per rank: the metric sums of the steps since the last log record (StepLogger), so a
  // run resumed mid-interval logs that interval over the same steps. Absent in older checkpoints.
  nlohmann::json log_interval = nlohmann::json::array();
  // One count per rank: the damaged samples that rank's loader skipped in the steps so far, so the
  // metrics' `skipped_samples` continues across a resume. Empty in older checkpoints.
  std::vector<int64_t> skipped_samples;
};

nlohmann::json to_json(const TrainingState& s);
// `file` names the state.json in errors. step, epoch, cursor and global_batch are required;
// bad_steps, world_size, total_steps, reason, rng, log_interval and skipped_samples have defaults (older checkpoints lack some).
// Throws CheckpointError naming the file and the key for a missing key, a wrong type or a negative
// count.
TrainingState parse_training_state(const nlohmann::json& j, const std::string& file);

}  // namespace ibllm::checkpoint
