// Reading NumPy .npy files into tensors (see npy.cpp for the supported dtypes).
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

namespace ibllm::data {

// -> tensor with the file's shape and dtype. DataError naming the file for a bad magic, truncated
// header/data, Fortran order or an unsupported dtype.
at::Tensor read_npy(const std::string& path);

}  // namespace ibllm::data
