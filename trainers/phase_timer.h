// Per-phase times of the training step for `ibllm bench` (encoder forward, LLM forward + loss,
// backward, gradient sync, optimizer). On CUDA each phase boundary records a timing event on the
// current stream, read only after the step's final synchronize, so timing adds no host sync; on
// the CPU (where every op has finished when it returns) a wall-clock stamp per boundary.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace ibllm::train {

enum class StepPhase { kEncoder, kForward, kBackward, kGradSync, kOptimizer };
constexpr size_t kStepPhases = 5;
const char* step_phase_name(StepPhase p);  // "encoder_forward", "llm_forward", ...

class PhaseTimer {
 public:
  explicit PhaseTimer(at::Device device);
  ~PhaseTimer();
  // Ends the running phase (if any) and starts `p`.
  void begin(StepPhase p);
  // Ends the running phase.
  void end();
  // After the device finished the step (synchronize): adds its phase times to the totals.
  void collect();
  // Mean ms per collected step, by phase.
  std::array<double, kStepPhases> mean_ms() const;

 private:
  struct Events;  // the CUDA events (defined only in a CUDA build)
  struct Interval {
    StepPhase phase;
    size_t start, end;  // mark indices
  };
  size_t mark();  // records a boundary, returns its index
  double elapsed_ms(size_t from, size_t to) const;

  at::Device device_;
  std::vector<std::chrono::steady_clock::time_point> stamps_;  // CPU marks
  std::unique_ptr<Events> events_;                              // CUDA marks
  std::vector<Interval> intervals_;
  bool open_ = false;
  std::array<double, kStepPhases> total_ms_{};
  int64_t steps_ = 0;
};

}  // namespace ibllm::train
