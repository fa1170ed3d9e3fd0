// train_losses / checkpoint_weights; see run_outputs.h.
#include "tests/support/run_outputs.h"

#include "src/core/metrics_writer.h"
#include "src/io/safetensors.h"

namespace ibllm::test {

std::map<int64_t, double> train_losses(const std::filesystem::path& run_dir) {
  std::map<int64_t, double> out;
  for (const auto& r : core::read_metrics((run_dir / "metrics.jsonl").string()))
    if (r.value("kind", "") == "train") out[r.at("step").get<int64_t>()] = r.at("loss").get<double>();
  return out;
}

std::map<std::string, at::Tensor> checkpoint_weights(const std::filesystem::path& run_dir,
                                                     int64_t step) {
  return io::read_safetensors(
      (run_dir / "checkpoints" / ("step_" + std::to_string(step)) / "model.safetensors").string());
}

}  // namespace ibllm::test
