// numpy scalars and arrays found in torch.save pickles (see pickle_numpy.cpp).
#pragma once

#include <string>

#include "src/io/pickle_value.h"

namespace ibllm::io {

// numpy.core.multiarray.scalar(dtype, data): a bool, int or float value.
PickleRef numpy_scalar_value(const PickleValue& dtype, const PickleValue& data,
                             const std::string& what);

// Turns the "numpy.ndarray" object produced by _reconstruct into a kTensor holding the data of
// its BUILD state (version, shape, dtype, is_fortran, raw bytes).
void numpy_array_from_state(PickleValue& obj, const PickleValue& state, const std::string& what);

}  // namespace ibllm::io
