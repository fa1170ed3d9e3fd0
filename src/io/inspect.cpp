// Builds and prints WeightsSummary. dtype names use the safetensors spelling (F16, BF16, ...) for
// every format so listings of a .pth and its converted .safetensors compare line by line.
#include "src/io/inspect.h"

#include <ATen/ATen.h>

#include <cstdio>
#include <sstream>

#include "src/io/safetensors.h"

namespace ibllm::io {
namespace {

std::string dtype_label(at::ScalarType t) {
  try {
    return safetensors_dtype_name(t);
  } catch (...) {
    return c10::toString(t);  // complex .pth tensors have no safetensors name
  }
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string human_count(int64_t n) {
  char buf[32];
  if (n >= 1000000000)
    std::snprintf(buf, sizeof(buf), "%.2fB", n / 1e9);
  else if (n >= 1000000)
    std::snprintf(buf, sizeof(buf), "%.2fM", n / 1e6);
  else if (n >= 1000)
    std::snprintf(buf, sizeof(buf), "%.1fK", n / 1e3);
  else
    std::snprintf(buf, sizeof(buf), "%lld", static_cast<long long>(n));
  return buf;
}

}  // namespace

std::string human_bytes(uint64_t b) {
  char buf[32];
  if (b >= 1000000000ull)
    std::snprintf(buf, sizeof(buf), "%.2f GB", b / 1e9);
  else if (b >= 1000000ull)
    std::snprintf(buf, sizeof(buf), "%.2f MB", b / 1e6);
  else if (b >= 1000ull)
    std::snprintf(buf, sizeof(buf), "%.2f KB", b / 1e3);
  else
    std::snprintf(buf, sizeof(buf), "%llu B", static_cast<unsigned long long>(b));
  return buf;
}

WeightsSummary inspect_weights(const std::string& path) {
  WeightsReader r(path);
  WeightsSummary s;
  s.path = path;
  s.format = weights_format_name(r.format());
  s.tensors = r.entries();
  s.metadata = r.metadata();
  if (const PthFile* p = r.pth()) {
    s.values = p->value_infos();
    s.warnings = p->warnings();
  }
  for (const auto& e : s.tensors) {
    int64_t n = 1;
    for (auto d : e.shape) n *= d;
    s.total_bytes += e.nbytes;
    s.total_elements += n;
    s.elements_by_dtype[dtype_label(e.dtype)] += n;
    s.tensors_by_dtype[dtype_label(e.dtype)] += 1;
  }
  return s;
}

std::string format_weights_summary(const WeightsSummary& s, size_t max_tensors) {
  std::ostringstream os;
  os << s.path << "\n  format: " << s.format << "\n  tensors: " << s.tensors.size()
     << ", elements: " << s.total_elements << " (" << human_count(s.total_elements)
     << "), data: " << s.total_bytes << " bytes (" << human_bytes(s.total_bytes) << ")\n";
  for (const auto& [dt, n] : s.elements_by_dtype) {
    os << "  " << dt << ": " << s.tensors_by_dtype.at(dt) << " tensors, " << n << " elements\n";
  }
  if (!s.metadata.empty()) {
    os << "metadata:\n";
    for (const auto& [k, v] : s.metadata) os << "  " << k << " = " << v << "\n";
  }
  size_t width = 4;
  for (const auto& e : s.tensors) width = std::max(width, e.name.size());
  os << "tensors:\n";
  size_t shown = 0;
  for (const auto& e : s.tensors) {
    if (shown++ == max_tensors) {
      os << "  ... " << (s.tensors.size() - max_tensors) << " more\n";
      break;
    }
    std::string name = e.name.empty() ? "<root>" : e.name;
    name.resize(std::max(name.size(), width), ' ');
    std::string dt = dtype_label(e.dtype);
    dt.resize(std::max<size_t>(dt.size(), 5), ' ');
    os << "  " << name << "  " << dt << " " << shape_text(e.shape) << "  " << e.nbytes << "\n";
  }
  if (!s.values.empty()) {
    os << "other entries:\n";
    for (const auto& v : s.values) {
      os << "  " << (v.name.empty() ? "<root>" : v.name) << " = " << v.repr << "  (" << v.type
         << ")\n";
    }
  }
  for (const auto& w : s.warnings) os << "warning: " << w << "\n";
  return os.str();
}

}  // namespace ibllm::io
