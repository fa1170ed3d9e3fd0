// PickleValue helpers: constructors, lookup by key, and the Python-like repr used by inspect.
#include "src/io/pickle_value.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstdlib>
#include <sstream>

namespace ibllm::io {

using Kind = PickleValue::Kind;

uint64_t TensorRef::nbytes() const {
  uint64_t n = at::elementSize(dtype);
  for (auto s : sizes) n *= static_cast<uint64_t>(s);
  return n;
}

PickleRef PickleValue::none() { return std::make_shared<PickleValue>(); }
PickleRef PickleValue::boolean(bool v) {
  auto p = make(Kind::kBool);
  p->b = v;
  return p;
}
PickleRef PickleValue::integer(int64_t v) {
  auto p = make(Kind::kInt);
  p->i = v;
  return p;
}
PickleRef PickleValue::real(double v) {
  auto p = make(Kind::kFloat);
  p->f = v;
  return p;
}
PickleRef PickleValue::string(std::string v, Kind k) {
  auto p = make(k);
  p->str = std::move(v);
  return p;
}
PickleRef PickleValue::make(Kind k, std::string cls) {
  auto p = std::make_shared<PickleValue>();
  p->kind = k;
  p->str = std::move(cls);
  return p;
}

const PickleValue* PickleValue::get(const std::string& key) const {
  for (const auto& [k, v] : entries) {
    if (key_text(*k) == key) return v.get();
  }
  for (const auto& [k, v] : attributes) {
    if (k == key) return v.get();
  }
  return nullptr;
}

std::string PickleValue::key_text(const PickleValue& key) {
  switch (key.kind) {
    case Kind::kString:
      return key.str;
    case Kind::kInt:
      return std::to_string(key.i);
    default:
      return key.repr(80);
  }
}

std::string PickleValue::kind_name() const {
  switch (kind) {
    case Kind::kNone:
      return "None";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kString:
      return "str";
    case Kind::kBytes:
      return "bytes";
    case Kind::kList:
      return str.empty() ? "list" : str;
    case Kind::kTuple:
      return "tuple";
    case Kind::kDict:
      return str.empty() ? "dict" : str;
    case Kind::kObject:
      return str;
    case Kind::kGlobal:
      return "global " + str;
    case Kind::kStorage:
      return "storage";
    case Kind::kTensor:
      return "tensor";
  }
  return "?";
}

std::string PickleValue::repr(size_t max_len) const { return repr_nested(max_len, 0); }

std::string PickleValue::repr_nested(size_t max_len, int depth) const {
  constexpr int kMaxDepth = 12;
  if (depth > kMaxDepth && is_container()) return "...";
  std::ostringstream os;
  auto join = [&](auto begin, auto end, auto fn) {
    bool first = true;
    for (auto it = begin; it != end; ++it) {
      if (!first) os << ", ";
      first = false;
      fn(*it);
      if (os.tellp() > static_cast<std::streamoff>(max_len)) break;
    }
  };
  switch (kind) {
    case Kind::kNone:
      os << "None";
      break;
    case Kind::kBool:
      os << (b ? "True" : "False");
      break;
    case Kind::kInt:
      os << i;
      break;
    case Kind::kFloat: {
      std::string text;
      for (int prec = 1; prec <= 17; ++prec) {  // shortest text that round-trips, like Python
        std::ostringstream f_os;
        f_os.precision(prec);
        f_os << f;
        text = f_os.str();
        // strtod, not stod: stod throws out_of_range for subnormals (4.9e-324).
        if (std::strtod(text.c_str(), nullptr) == f || std::isnan(f)) break;
      }
      if (text.find_first_of(".eni") == std::string::npos) text += ".0";  // 3.0, not 3
      os << text;
      break;
    }
    case Kind::kString:
      os << "'" << str << "'";
      break;
    case Kind::kBytes:
      os << "b<" << str.size() << " bytes>";
      break;
    case Kind::kGlobal:
      os << str;
      break;
    case Kind::kStorage:
      os << "storage('" << storage->key << "', " << c10::toString(storage->dtype) << ", "
         << storage->numel << ")";
      break;
    case Kind::kTensor: {
      os << "tensor(" << c10::toString(tensor->dtype) << ", [";
      join(tensor->sizes.begin(), tensor->sizes.end(), [&](int64_t s) { os << s; });
      os << "])";
      break;
    }
    case Kind::kList:
    case Kind::kTuple:
      os << (kind == Kind::kList ? (str.empty() ? "[" : str + "([") : "(");
      join(items.begin(), items.end(), [&](const PickleRef& x) { os << x->repr_nested(max_len, depth + 1); });
      os << (kind == Kind::kList ? (str.empty() ? "]" : "])") : (items.size() == 1 ? ",)" : ")"));
      break;
    case Kind::kDict:
      if (!str.empty()) os << str << "(";
      os << "{";
      join(entries.begin(), entries.end(), [&](const auto& kv) {
        os << kv.first->repr_nested(max_len, depth + 1) << ": "
           << kv.second->repr_nested(max_len, depth + 1);
      });
      os << "}";
      if (!str.empty()) os << ")";
      break;
    case Kind::kObject: {
      const auto dot = str.rfind('.');
      os << (dot == std::string::npos ? str : str.substr(dot + 1)) << "(";
      bool first = true;
      for (const auto& x : items) {
        os << (first ? "" : ", ") << x->repr_nested(max_len, depth + 1);
        first = false;
        if (os.tellp() > static_cast<std::streamoff>(max_len)) break;
      }
      for (const auto& [k, v] : attributes) {
        os << (first ? "" : ", ") << k << "=" << v->repr_nested(max_len, depth + 1);
        first = false;
        if (os.tellp() > static_cast<std::streamoff>(max_len)) break;
      }
      os << ")";
      break;
    }
  }
  std::string s = os.str();
  if (s.size() > max_len) s = s.substr(0, max_len > 3 ? max_len - 3 : 0) + "...";
  return s;
}

}  // namespace ibllm::io
