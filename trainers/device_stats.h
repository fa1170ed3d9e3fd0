// Device facts the trainer and `ibllm bench` report: the device to run on (run.device), the frozen
// dtype for a precision setting, synchronisation for honest timings, the device name (for the
// MFU peak table) and peak memory (CUDA allocator peak, or the process's peak RSS on CPU).
#pragma once

#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

#include "trainers/trainer_config.h"

namespace ibllm::train {

// "auto": CUDA when available, else CPU; "cuda" without a GPU throws ConfigError. On CUDA the
// device index is local_rank modulo the visible devices (one GPU per rank).
at::Device select_device(RunDevice run_device, int64_t local_rank = 0);
// trainer.precision -> dtype of the frozen towers (kAuto: bf16 on CUDA, fp32 on CPU).
at::ScalarType frozen_dtype_for(FrozenPrecision precision, at::Device device);
void synchronize(at::Device device);
std::string device_name(at::Device device);  // "NVIDIA H100 80GB HBM3", "cpu"
// Peak bytes since the last reset: CUDA allocator peak; on CPU the process peak RSS.
int64_t peak_memory_bytes(at::Device device);
void reset_peak_memory(at::Device device);

}  // namespace ibllm::train
