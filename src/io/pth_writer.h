// Writer for PyTorch `torch.save` files (zip format) that `torch.load` in Python reads, including
// with weights_only=True (torch 1.13 and 2.x): the official ImageBind-LLM demo loads our exports as
// it loads `7B.pth` ({"model": OrderedDict(name -> tensor)}). The zip container comes from
// LibTorch's caffe2::serialize::PyTorchStreamWriter; the pickle (protocol 2) is emitted here and
// uses only the globals and opcodes that torch's weights-only unpickler accepts.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

namespace ibllm::io {

// Writes `{wrap_key: OrderedDict([(name, tensor), ...])}` (the bare OrderedDict when `wrap_key` is
// empty) to `path`, atomically (written to `path.tmp`, fsync'd, renamed). Tensors may be on any
// device, non-contiguous or views: each is written as its own contiguous CPU storage, in the order
// given, with requires_grad=False. Archive records: archive/data.pkl, archive/byteorder
// ("little"), archive/data/0 .. data/N-1, archive/version (LibTorch 2.x writers also add
// archive/.data/serialization_id). Dtypes: float32/16/64, bfloat16, int64/32/16/8, uint8, bool;
// anything else, an undefined, sparse or meta tensor, a duplicate name or a name that is not valid
// UTF-8 throws an IoError before the file is touched.
void write_pth(const std::string& path,
               const std::vector<std::pair<std::string, at::Tensor>>& tensors,
               const std::string& wrap_key = "model");

// The torch storage class written for a dtype ("FloatStorage" for at::kFloat); throws IoError for
// a dtype write_pth does not support.
std::string pth_storage_class(at::ScalarType dtype);

}  // namespace ibllm::io
