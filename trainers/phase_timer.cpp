// Phase timing of the training step; see phase_timer.h.
#include "trainers/phase_timer.h"


#if IBLLM_WITH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#endif

namespace ibllm::train {

const char* step_phase_name(StepPhase p) {
  switch (p) {
    case StepPhase::kEncoder: return "encoder_forward";
    case StepPhase::kForward: return "llm_forward";
    case StepPhase::kBackward: return "backward";
    case StepPhase::kGradSync: return "grad_sync";
    case StepPhase::kOptimizer: return "optimizer";
  }
  return "?";
}

#if IBLLM_WITH_CUDA
struct PhaseTimer::Events {
  std::vector<std::unique_ptr<at::cuda::CUDAEvent>> marks;
};
#else
struct PhaseTimer::Events {};
#endif

PhaseTimer::PhaseTimer(at::Device device) : device_(device), events_(std::make_unique<Events>()) {}
PhaseTimer::~PhaseTimer() = default;

size_t PhaseTimer::mark() {
#if IBLLM_WITH_CUDA
  if (device_.is_cuda()) {
    auto e = std::make_unique<at::cuda::CUDAEvent>(cudaEventDefault);  // timing enabled
    e->record();  // on the current stream of the current device
    events_->marks.push_back(std::move(e));
    return events_->marks.size() - 1;
  }
#endif
  stamps_.push_back(std::chrono::steady_clock::now());
  return stamps_.size() - 1;
}

double PhaseTimer::elapsed_ms(size_t from, size_t to) const {
#if IBLLM_WITH_CUDA
  if (device_.is_cuda()) return events_->marks[from]->elapsed_time(*events_->marks[to]);
#endif
  return std::chrono::duration<double, std::milli>(stamps_[to] - stamps_[from]).count();
}

void PhaseTimer::begin(StepPhase p) {
  const size_t m = mark();
  if (open_) intervals_.back().end = m;  // one boundary ends the last phase and starts this one
  intervals_.push_back({p, m, m});
  open_ = true;
}

void PhaseTimer::end() {
  if (!open_) return;
  intervals_.back().end = mark();
  open_ = false;
}

void PhaseTimer::collect() {
  if (open_) end();
  for (const auto& iv : intervals_)
    total_ms_[static_cast<size_t>(iv.phase)] += elapsed_ms(iv.start, iv.end);
  intervals_.clear();
  stamps_.clear();
#if IBLLM_WITH_CUDA
  events_->marks.clear();
#endif
  ++steps_;
}

std::array<double, kStepPhases> PhaseTimer::mean_ms() const {
  std::array<double, kStepPhases> m{};
  for (size_t i = 0; i < kStepPhases; ++i)
    m[i] = steps_ > 0 ? total_ms_[i] / static_cast<double>(steps_) : 0.0;
  return m;
}

}  // namespace ibllm::train
