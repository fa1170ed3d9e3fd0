// Minimal .npy reader (NumPy format versions 1-3): little-endian float16/32/64, uint8 and
// int16/32/64 arrays in C order. Used by the point-cloud and IMU loaders.
#include "data/transforms/npy.h"

#include <ATen/ATen.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <vector>

#include "src/core/error.h"

namespace ibllm::data {

at::Tensor read_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw DataError("cannot open '" + path + "'", "check that the file exists");
  std::vector<char> b((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (b.size() < 10 || std::memcmp(b.data(), "\x93NUMPY", 6) != 0)
    throw DataError("'" + path + "' is not a .npy file (bad magic)");
  const int major = static_cast<unsigned char>(b[6]);
  size_t hlen = 0, off = 0;
  if (major == 1) {
    hlen = static_cast<unsigned char>(b[8]) | (static_cast<unsigned char>(b[9]) << 8);
    off = 10;
  } else {
    if (b.size() < 12) throw DataError("'" + path + "' is a truncated .npy file");
    for (int i = 0; i < 4; ++i) hlen |= static_cast<size_t>(static_cast<unsigned char>(b[8 + i])) << (8 * i);
    off = 12;
  }
  if (off + hlen > b.size()) throw DataError("'" + path + "' is a truncated .npy file (header)");
  const std::string h(b.data() + off, hlen);
  auto value_after = [&](const std::string& key) {
    auto p = h.find("'" + key + "'");
    if (p == std::string::npos) throw DataError("'" + path + "': .npy header has no " + key);
    p = h.find(':', p);
    return h.substr(p + 1);
  };
  std::string descr = value_after("descr");
  descr = descr.substr(descr.find('\'') + 1);
  descr = descr.substr(0, descr.find('\''));
  if (value_after("fortran_order").find("True") < value_after("fortran_order").find(','))
    throw DataError("'" + path + "': Fortran-order .npy arrays are not supported");
  std::string shp = value_after("shape");
  shp = shp.substr(shp.find('(') + 1, shp.find(')') - shp.find('(') - 1);
  std::vector<int64_t> shape;
  std::stringstream ss(shp);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const size_t a = item.find_first_not_of(' ');
    if (a == std::string::npos) continue;
    const std::string dim = item.substr(a, item.find_last_not_of(' ') - a + 1);
    errno = 0;
    const long long v = std::strtoll(dim.c_str(), nullptr, 10);
    if (dim.find_first_not_of("0123456789") != std::string::npos || errno == ERANGE)
      throw DataError("'" + path + "': .npy shape (" + shp + ") holds '" + dim +
                      "', not a non-negative integer");
    shape.push_back(v);
  }
  static const std::map<std::string, std::pair<at::ScalarType, size_t>> kTypes = {
      {"<f2", {at::kHalf, 2}}, {"<f4", {at::kFloat, 4}}, {"<f8", {at::kDouble, 8}},
      {"|u1", {at::kByte, 1}}, {"<i2", {at::kShort, 2}}, {"<i4", {at::kInt, 4}},
      {"<i8", {at::kLong, 8}}};
  auto type = kTypes.find(descr);
  if (type == kTypes.end())
    throw DataError("'" + path + "': unsupported .npy dtype '" + descr +
                    "' (little-endian float16/32/64, uint8, int16/32/64)");
  const at::ScalarType dt = type->second.first;
  const size_t esize = type->second.second;
  // The declared shape is checked against the bytes present before anything is allocated:
  // n * esize <= data bytes, computed without overflow (a zero dimension empties the array).
  const size_t data_off = off + hlen;
  const size_t data_bytes = b.size() - data_off;
  bool empty = false;
  for (auto d : shape) empty = empty || d == 0;
  size_t nbytes = empty ? 0 : esize;
  for (auto d : shape) {
    if (empty) break;
    if (static_cast<uint64_t>(d) > data_bytes / nbytes)
      throw DataError("'" + path + "' is a truncated .npy file (data): shape (" + shp + ") of " +
                      descr + " needs more than the " + std::to_string(data_bytes) +
                      " bytes after the header");
    nbytes *= static_cast<size_t>(d);
  }
  if (nbytes > data_bytes)  // a 0-d array still needs one element
    throw DataError("'" + path + "' is a truncated .npy file (data): " + std::to_string(nbytes) +
                    " bytes needed, " + std::to_string(data_bytes) + " present");
  if (empty) {
    int64_t others = 1;  // at::empty still multiplies every dimension: keep that product in range
    for (auto d : shape)
      if (d != 0 && others > std::numeric_limits<int64_t>::max() / d)
        throw DataError("'" + path + "': .npy shape (" + shp + ") is too large");
      else if (d != 0)
        others *= d;
  }
  at::Tensor t = at::empty(shape, dt);
  if (nbytes > 0) std::memcpy(t.data_ptr(), b.data() + data_off, nbytes);
  return t;
}

}  // namespace ibllm::data
