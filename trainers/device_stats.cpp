// Device selection and statistics; CUDA parts compiled only into CUDA builds.
#include "trainers/device_stats.h"

#include <sys/resource.h>

#include <ATen/Context.h>
#include <torch/cuda.h>

#if IBLLM_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include <spdlog/spdlog.h>

#include "src/core/error.h"

namespace ibllm::train {

at::Device select_device(RunDevice run_device, int64_t local_rank) {
  const bool cuda = torch::cuda::is_available();
  if (run_device == RunDevice::kCpu) return at::kCPU;
  if (run_device == RunDevice::kCuda && !cuda)
    throw ConfigError("run.device is cuda but no CUDA device is usable" +
                          std::string(IBLLM_WITH_CUDA ? "" : " (this build has no CUDA)"),
                      "set run.device: cpu or auto");
  if (!cuda) {
    if (IBLLM_WITH_CUDA) spdlog::info("no CUDA device: running on the CPU (run.device: auto)");
    return at::Device(at::kCPU);
  }
  const auto n = static_cast<int64_t>(torch::cuda::device_count());
  return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(local_rank % n));
}

at::ScalarType frozen_dtype_for(FrozenPrecision precision, at::Device device) {
  switch (precision) {
    case FrozenPrecision::kFp32: return at::kFloat;
    case FrozenPrecision::kBf16: return at::kBFloat16;
    case FrozenPrecision::kFp16: return at::kHalf;
    case FrozenPrecision::kAuto: break;
  }
  return device.is_cuda() ? at::kBFloat16 : at::kFloat;
}

void synchronize(at::Device device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

std::string device_name(at::Device device) {
#if IBLLM_WITH_CUDA
  if (device.is_cuda()) return at::cuda::getDeviceProperties(device.index())->name;
#endif
  return device.is_cuda() ? "cuda" : "cpu";
}

int64_t peak_memory_bytes(at::Device device) {
#if IBLLM_WITH_CUDA
  if (device.is_cuda()) {
    auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
    return stats.allocated_bytes[0].peak;  // StatType::AGGREGATE
  }
#endif
  struct rusage u {};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<int64_t>(u.ru_maxrss) * 1024;
}

void reset_peak_memory(at::Device device) {
#if IBLLM_WITH_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(device.index());
#endif
}

}  // namespace ibllm::train
