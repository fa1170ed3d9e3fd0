// A Python pickle reader for the subset torch.save emits (protocols 2-5): None/bool/int/float/str/
// bytes, lists, tuples, dicts (OrderedDict keeps its `_metadata` as an attribute), tensors rebuilt
// by torch._utils into lazy TensorRefs that point at storages, numpy scalars as plain numbers,
// numpy arrays as tensors, and any other object (argparse.Namespace, ...) as an inspectable object
// with its constructor arguments and attributes. Nothing is executed; unknown opcodes fail naming
// them.
#pragma once

#include <ATen/core/ScalarType.h>

#include <cstdint>
#include <functional>
#include <string>

#include "src/io/pickle_value.h"

namespace ibllm::io {

// Hooks the container format supplies: turn a persistent id (torch: ('storage', type, key,
// location, numel)) into a value, and receive non-fatal warnings ("kept argparse.Namespace as an
// inspectable object").
struct UnpicklerHooks {
  std::function<PickleRef(const PickleRef& pid)> persistent_load;
  std::function<void(const std::string&)> warn;
};

// Parses one pickle. `what` names the source in errors ("7B.pth:data.pkl"). The root owns every
// container the pickle built (cycles and deep nesting included): a child reference is valid while
// the root is held; once the last reference to the root goes, the containers are emptied.
PickleRef unpickle(const uint8_t* data, size_t size, const UnpicklerHooks& hooks,
                   const std::string& what);

// "torch.FloatStorage" -> kFloat, ..., "torch.UntypedStorage" -> kByte; throws IoError otherwise.
at::ScalarType storage_dtype(const std::string& storage_class);

}  // namespace ibllm::io
