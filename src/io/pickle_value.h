// The Python object model the unpickler produces: plain values, containers, lazy tensor and
// storage references, and inspectable stand-ins for arbitrary classes. Shared pointers because a
// pickle memo can reference one object from several places (views sharing a storage).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ibllm::io {

// A storage record in a torch.save zip ("data/<key>"), not yet read.
struct StorageRef {
  std::string key;
  at::ScalarType dtype = at::kFloat;
  int64_t numel = 0;     // elements of `dtype`
  std::string location;  // "cpu", "cuda:0", ... (everything is loaded to the CPU)
};

// A tensor as the pickle describes it: a strided view of a storage. `eager` is set instead of
// `storage` for tensors that were data inside the pickle itself (numpy arrays).
struct TensorRef {
  std::shared_ptr<const StorageRef> storage;
  at::Tensor eager;
  at::ScalarType dtype = at::kFloat;
  int64_t offset = 0;  // in elements
  std::vector<int64_t> sizes;
  std::vector<int64_t> strides;
  bool requires_grad = false;
  bool is_parameter = false;
  uint64_t nbytes() const;  // bytes of the view's elements (numel * itemsize)
};

class PickleValue;
using PickleRef = std::shared_ptr<PickleValue>;

class PickleValue {
 public:
  enum class Kind {
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kBytes,
    kList,
    kTuple,
    kDict,
    kObject,
    kGlobal,
    kStorage,
    kTensor
  };
  Kind kind = Kind::kNone;
  bool b = false;
  int64_t i = 0;
  double f = 0.0;
  std::string str;  // kString/kBytes content; kGlobal "module.name"; kObject/kDict/kList class name
  std::vector<PickleRef> items;                               // kList/kTuple; kObject: ctor args
  std::vector<std::pair<PickleRef, PickleRef>> entries;       // kDict items (insertion order)
  std::vector<std::pair<std::string, PickleRef>> attributes;  // BUILD dict state (_metadata, ...)
  PickleRef state;                                            // kObject: non-dict BUILD state
  std::shared_ptr<const StorageRef> storage;                  // kStorage
  std::shared_ptr<TensorRef> tensor;                          // kTensor

  static PickleRef none();
  static PickleRef boolean(bool v);
  static PickleRef integer(int64_t v);
  static PickleRef real(double v);
  static PickleRef string(std::string v, Kind k = Kind::kString);
  static PickleRef make(Kind k, std::string cls = "");

  bool is_container() const {
    return kind == Kind::kList || kind == Kind::kTuple || kind == Kind::kDict ||
           kind == Kind::kObject;
  }
  // Dict entry (string or integer key spelled in decimal) or object attribute; nullptr if absent.
  const PickleValue* get(const std::string& key) const;
  // A key of a dict entry as text (strings as-is, ints in decimal, others as repr).
  static std::string key_text(const PickleValue& key);
  // Short Python-like rendering for inspect output ("3", "'7B'", "Namespace(batch_size=4, ...)").
  std::string repr(size_t max_len = 120) const;
  std::string kind_name() const;

 private:
  // Containers deeper than a few levels (or containing themselves) render as "...".
  std::string repr_nested(size_t max_len, int depth) const;
};

}  // namespace ibllm::io
