// numpy values inside torch.save pickles: scalars (numpy.core.multiarray.scalar(dtype, bytes))
// become Python numbers, arrays (_reconstruct + BUILD state) become eager tensors. Byte order from
// the dtype state ('>' = big-endian) is honoured; object arrays are refused.
#include "src/io/pickle_numpy.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstring>

#include "src/core/error.h"

namespace ibllm::io {
namespace {

using Kind = PickleValue::Kind;

[[noreturn]] void fail(const std::string& what, const std::string& msg) {
  throw IoError(what + ": " + msg, "the file is corrupt or holds an unsupported numpy value");
}

struct NumpyDtype {
  char kind = 'f';  // f i u b c
  size_t size = 4;
  bool swap = false;
};

NumpyDtype numpy_dtype(const PickleValue& d, const std::string& what) {
  if (d.kind != Kind::kObject || d.str != "numpy.dtype" || d.items.empty() ||
      d.items[0]->kind != Kind::kString) {
    throw IoError(what + ": expected a numpy.dtype, got " + d.repr());
  }
  const std::string& s = d.items[0]->str;  // 'f8', 'i4', 'b1', 'u1', ...
  NumpyDtype out;
  if (s.size() < 2) throw IoError(what + ": unsupported numpy dtype '" + s + "'");
  out.kind = s[0];
  const std::string digits = s.substr(1);
  if (digits.size() > 3 || digits.find_first_not_of("0123456789") != std::string::npos)
    throw IoError(what + ": unsupported numpy dtype '" + s + "'");
  out.size = static_cast<size_t>(std::stoul(digits));
  if (d.state && d.state->kind == Kind::kTuple && d.state->items.size() > 1 &&
      d.state->items[1]->kind == Kind::kString) {
    out.swap = d.state->items[1]->str == ">";
  }
  return out;
}

at::ScalarType numpy_scalar_type(const NumpyDtype& d, const std::string& what) {
  switch (d.kind) {
    case 'f':
      if (d.size == 2) return at::kHalf;
      if (d.size == 4) return at::kFloat;
      if (d.size == 8) return at::kDouble;
      break;
    case 'i':
      if (d.size == 1) return at::kChar;
      if (d.size == 2) return at::kShort;
      if (d.size == 4) return at::kInt;
      if (d.size == 8) return at::kLong;
      break;
    case 'u':
      if (d.size == 1) return at::kByte;
      break;
    case 'b':
      if (d.size == 1) return at::kBool;
      break;
    case 'c':
      if (d.size == 8) return at::kComplexFloat;
      if (d.size == 16) return at::kComplexDouble;
      break;
  }
  throw IoError(what + ": unsupported numpy dtype '" + std::string(1, d.kind) +
                std::to_string(d.size) + "'");
}

}  // namespace

PickleRef numpy_scalar_value(const PickleValue& dtype, const PickleValue& data,
                             const std::string& what) {
  const NumpyDtype d = numpy_dtype(dtype, what);
  if (data.kind != Kind::kBytes || data.str.size() != d.size) {
    fail(what, "numpy scalar with " + std::to_string(data.str.size()) + " data bytes for a " +
                   std::to_string(d.size) + "-byte dtype");
  }
  std::string raw = data.str;
  if (d.swap) std::reverse(raw.begin(), raw.end());
  const auto* b = reinterpret_cast<const uint8_t*>(raw.data());
  auto as_int = [&](bool is_signed) {
    uint64_t v = 0;
    for (int k = static_cast<int>(d.size) - 1; k >= 0; --k) v = (v << 8) | b[k];
    if (is_signed && d.size < 8 && (b[d.size - 1] & 0x80)) v |= ~uint64_t{0} << (8 * d.size);
    return static_cast<int64_t>(v);
  };
  switch (d.kind) {
    case 'b':
      return PickleValue::boolean(b[0] != 0);
    case 'i':
      return PickleValue::integer(as_int(true));
    case 'u':
      return PickleValue::integer(as_int(false));
    case 'f':
      if (d.size == 8) {
        double x;
        std::memcpy(&x, b, 8);
        return PickleValue::real(x);
      }
      if (d.size == 4) {
        float x;
        std::memcpy(&x, b, 4);
        return PickleValue::real(x);
      }
      if (d.size == 2) {
        uint16_t h;
        std::memcpy(&h, b, 2);
        return PickleValue::real(static_cast<float>(c10::Half(h, c10::Half::from_bits())));
      }
      break;
  }
  fail(what,
       "unsupported numpy scalar type '" + std::string(1, d.kind) + std::to_string(d.size) + "'");
}

void numpy_array_from_state(PickleValue& obj, const PickleValue& st, const std::string& what) {
  if (st.kind != Kind::kTuple || st.items.size() < 5)
    fail(what, "numpy.ndarray state is not a 5-tuple");
  std::vector<int64_t> shape;
  for (const auto& d : st.items[1]->items) {
    if (d->kind != Kind::kInt) fail(what, "numpy.ndarray shape holds a non-integer");
    shape.push_back(d->i);
  }
  const NumpyDtype d = numpy_dtype(*st.items[2], what);
  const bool fortran = st.items[3]->kind == Kind::kBool && st.items[3]->b;
  const auto& data = *st.items[4];
  if (data.kind != Kind::kBytes) fail(what, "numpy.ndarray of Python objects is not supported");
  const auto type = numpy_scalar_type(d, what);
  // Shape from the file: non-negative, and its byte count (overflow-checked) is the data's size.
  int64_t numel = 1;
  uint64_t nbytes = 0;
  for (auto s : shape) {
    if (s < 0 || __builtin_mul_overflow(numel, s, &numel))
      fail(what, "numpy.ndarray shape holds a negative or too large dimension");
  }
  if (__builtin_mul_overflow(static_cast<uint64_t>(numel), d.size, &nbytes) ||
      nbytes != data.str.size())
    fail(what, "numpy.ndarray data size mismatch");
  std::vector<int64_t> dims = shape;
  if (fortran) std::reverse(dims.begin(), dims.end());
  auto t = at::empty(dims, at::TensorOptions().dtype(type));
  if (numel > 0) std::memcpy(t.data_ptr(), data.str.data(), data.str.size());
  if (d.swap && d.size > 1) {
    auto bytes = t.view({numel}).view(at::kByte).view({numel, static_cast<int64_t>(d.size)});
    bytes.copy_(bytes.flip({1}));  // big-endian elements to host order
  }
  if (fortran) {
    std::vector<int64_t> perm(dims.size());
    for (size_t k = 0; k < perm.size(); ++k) perm[k] = static_cast<int64_t>(perm.size() - 1 - k);
    t = t.permute(perm).contiguous();
  }
  obj.kind = Kind::kTensor;
  obj.tensor = std::make_shared<TensorRef>();
  obj.tensor->eager = t;
  obj.tensor->dtype = type;
  obj.tensor->sizes = t.sizes().vec();
  obj.tensor->strides = t.strides().vec();
}

}  // namespace ibllm::io
