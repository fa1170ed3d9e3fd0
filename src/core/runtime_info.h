// Build and runtime facts (LibTorch/CUDA/cuDNN/NCCL/Gloo/OpenCV/libsndfile, threads, build type),
// gathered in one place so `ibllm info`, run logs and checkpoints report the same thing.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace ibllm::core {

nlohmann::ordered_json runtime_info();
// The BLAS LibTorch's CPU matmuls reach: mkl (the x86 wheels) | openblas | blis | reference (netlib: ~10x slower;
// `apt-get install libopenblas0-pthread`) | builtin.
std::string blas_library();
// Sets LibTorch intra-op threads (0 = all hardware threads) and returns the count in effect.
int configure_threads(int intra_op);

}  // namespace ibllm::core
