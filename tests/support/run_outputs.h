// What a finished `ibllm train` run left behind, for the integration tests: the training loss per
// step from metrics.jsonl (the last record of a step wins: a resumed run re-logs the steps after
// its checkpoint) and the trainable tensors of a checkpoint.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include <ATen/core/Tensor.h>

namespace ibllm::test {

std::map<int64_t, double> train_losses(const std::filesystem::path& run_dir);
std::map<std::string, at::Tensor> checkpoint_weights(const std::filesystem::path& run_dir,
                                                     int64_t step);

}  // namespace ibllm::test
