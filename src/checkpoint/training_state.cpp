// state.json <-> TrainingState; see training_state.h.
#include "src/checkpoint/training_state.h"

#include "src/core/error.h"

namespace ibllm::checkpoint {

nlohmann::json to_json(const TrainingState& s) {
  return {{"step", s.step},
          {"epoch", s.epoch},
          {"cursor", s.cursor},
          {"bad_steps", s.bad_steps},
          {"global_batch", s.global_batch},
          {"world_size", s.world_size},
          {"total_steps", s.total_steps},
          {"reason", s.reason},
          {"rng", s.rng},
          {"log_interval", s.log_interval},
          {"skipped_samples", s.skipped_samples}};
}

TrainingState parse_training_state(const nlohmann::json& j, const std::string& file) {
  const std::string hint = "the checkpoint's state.json is damaged: resume from an older "
                           "checkpoint (checkpoint.resume: <dir>) or start over";
  if (!j.is_object())
    throw CheckpointError(file + ": expected a JSON object, found " + std::string(j.type_name()),
                          hint);
  auto count = [&](const char* key, int64_t& out, bool required, int64_t min) {
    const auto it = j.find(key);
    if (it == j.end()) {
      if (required) throw CheckpointError(file + ": key '" + key + "' is missing", hint);
      return;
    }
    if (!it->is_number_integer())
      throw CheckpointError(file + ": key '" + key + "' must be an integer, found " +
                                std::string(it->type_name()) + " " + it->dump(),
                            hint);
    out = it->get<int64_t>();
    if (out < min)
      throw CheckpointError(file + ": key '" + key + "' is " + std::to_string(out) +
                                ", expected at least " + std::to_string(min),
                            hint);
  };
  TrainingState s;
  count("step", s.step, true, 0);
  count("epoch", s.epoch, true, 0);
  count("cursor", s.cursor, true, 0);
  count("global_batch", s.global_batch, true, 1);
  count("bad_steps", s.bad_steps, false, 0);
  count("world_size", s.world_size, false, 1);
  count("total_steps", s.total_steps, false, 0);
  if (const auto it = j.find("reason"); it != j.end()) {
    if (!it->is_string())
      throw CheckpointError(file + ": key 'reason' must be a string, found " + it->dump(), hint);
    s.reason = it->get<std::string>();
  }
  if (const auto it = j.find("rng"); it != j.end()) {
    if (!it->is_array() && !it->is_object())
      throw CheckpointError(file + ": key 'rng' must be a list of per-rank states, found " +
                                std::string(it->type_name()),
                            hint);
    s.rng = *it;
  }
  if (const auto it = j.find("log_interval"); it != j.end()) {
    if (!it->is_array())
      throw CheckpointError(file + ": key 'log_interval' must be a list of per-rank objects, found " +
                                std::string(it->type_name()),
                            hint);
    s.log_interval = *it;
  }
  if (const auto it = j.find("skipped_samples"); it != j.end()) {
    bool ok = it->is_array();
    for (size_t i = 0; ok && i < it->size(); ++i)
      ok = (*it)[i].is_number_integer() && (*it)[i].get<int64_t>() >= 0;
    if (!ok)
      throw CheckpointError(file + ": key 'skipped_samples' must be a list of per-rank counts >= 0, "
                                   "found " + it->dump().substr(0, 200),
                            hint);
    s.skipped_samples = it->get<std::vector<int64_t>>();
  }
  return s;
}

}  // namespace ibllm::checkpoint
