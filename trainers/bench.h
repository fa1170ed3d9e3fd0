// `ibllm bench`: times the real training step (TrainStep: towers, bind network, LLaMA, loss,
// backward, clipping, AdamW) on synthetic batches at the configured shapes with randomly
// initialised weights, on whatever device the config selects. Warm-up steps are untimed; each
// timed step is synchronised. One JSON object per batch size.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "trainers/run_config.h"

namespace ibllm::train {

// batch_size 0: data.batch_size. Returns {"bench":"train_step", step_ms, samples_per_s,
// tokens_per_s, mfu (GPU), peak_mem_gib, precision, batch, seq_len, ...}.
nlohmann::json bench_train_step(const RunConfig& c, int64_t batch_size = 0);

}  // namespace ibllm::train
