// Capture and restore LibTorch's default generators so a resumed run draws exactly the numbers
// the uninterrupted run would have drawn: the CPU generator (Mersenne Twister plus its cached
// normal samples) and, when CUDA is present, every visible device's Philox seed/offset. States are
// the generators' own byte blobs, base64-encoded into JSON (they go into state.json per rank).
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace ibllm::checkpoint {

// {"cpu": "<base64>", "cuda": ["<base64>", ...]}; "cuda" is empty without CUDA.
nlohmann::json capture_rng_state();
// Restores what capture_rng_state produced. CUDA states are restored for the devices present both
// in `state` and in this process (a warning names any difference in device count); a malformed
// state throws CheckpointError.
void restore_rng_state(const nlohmann::json& state);

std::string base64_encode(const void* data, size_t n);
std::string base64_decode(const std::string& text);  // throws CheckpointError on bad input

}  // namespace ibllm::checkpoint
