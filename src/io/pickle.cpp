// The unpickler behind the .pth reader. A small stack machine over the pickle opcodes; callables
// are never run, only recognised: torch._utils rebuild functions become lazy TensorRefs, a few
// builtins (OrderedDict, _codecs.encode, numpy scalars/arrays, torch.Size) become plain values, and
// every other class becomes an inspectable kObject with a warning. Unsupported tensor kinds
// (quantized, sparse, nested, meta) and unknown opcodes throw an IoError naming the construct.
#include "src/io/pickle.h"

#include <ATen/ATen.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "src/core/error.h"
#include "src/io/pickle_numpy.h"

namespace ibllm::io {
namespace {

using Kind = PickleValue::Kind;

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

// Pickle protocol 2 spells builtins as __builtin__ (Python 2 names); numpy 2 moved core to _core.
std::string canonical_global(std::string name) {
  if (starts_with(name, "__builtin__.")) name = "builtins." + name.substr(12);
  if (starts_with(name, "copy_reg.")) name = "copyreg." + name.substr(9);
  if (starts_with(name, "numpy._core.")) name = "numpy.core." + name.substr(12);
  return name;
}

at::ScalarType torch_dtype_global(const std::string& name, const std::string& what) {
  static const std::unordered_map<std::string, at::ScalarType> kMap = {
      {"torch.float32", at::kFloat},
      {"torch.float", at::kFloat},
      {"torch.float64", at::kDouble},
      {"torch.double", at::kDouble},
      {"torch.float16", at::kHalf},
      {"torch.half", at::kHalf},
      {"torch.bfloat16", at::kBFloat16},
      {"torch.int64", at::kLong},
      {"torch.long", at::kLong},
      {"torch.int32", at::kInt},
      {"torch.int", at::kInt},
      {"torch.int16", at::kShort},
      {"torch.short", at::kShort},
      {"torch.int8", at::kChar},
      {"torch.uint8", at::kByte},
      {"torch.bool", at::kBool},
      {"torch.complex64", at::kComplexFloat},
      {"torch.complex128", at::kComplexDouble},
  };
  auto it = kMap.find(name);
  if (it == kMap.end()) throw IoError(what + ": unsupported tensor dtype " + name);
  return it->second;
}

// UTF-8 text whose code points are all < 256 back to bytes (how protocol 2 stores bytes objects:
// _codecs.encode(str, 'latin1')).
std::string latin1_bytes(const std::string& utf8, const std::string& what) {
  std::string out;
  for (size_t i = 0; i < utf8.size();) {
    const auto c = static_cast<uint8_t>(utf8[i]);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++i;
    } else if ((c & 0xE0) == 0xC0 && i + 1 < utf8.size()) {
      const unsigned cp = ((c & 0x1F) << 6) | (static_cast<uint8_t>(utf8[i + 1]) & 0x3F);
      if (cp > 0xFF) throw IoError(what + ": _codecs.encode(..., 'latin1') of a non-latin1 string");
      out.push_back(static_cast<char>(cp));
      i += 2;
    } else {
      throw IoError(what + ": _codecs.encode(..., 'latin1') of a non-latin1 string");
    }
  }
  return out;
}

// Interprets a (tuple/list of) int(s).
std::vector<int64_t> int_list(const PickleValue& v, const std::string& what, const char* field) {
  if (v.kind != Kind::kTuple && v.kind != Kind::kList) {
    throw IoError(what + ": tensor " + field + " is " + v.kind_name() +
                  ", expected a tuple of ints");
  }
  std::vector<int64_t> out;
  for (const auto& x : v.items) {
    if (x->kind != Kind::kInt) throw IoError(what + ": tensor " + field + " holds a non-integer");
    out.push_back(x->i);
  }
  return out;
}

// Owns every container a pickle built. A pickle can make a list contain itself (DUP + APPEND, or
// memo GET): with shared_ptr children such a cycle would never be freed, and a chain nested a
// million deep would overflow the stack in its destructor. The arena keeps every container alive
// and, when the last reference to the result goes, first empties them all (breaking cycles
// without recursion), then frees them one by one.
struct PickleArena {
  std::vector<PickleRef> nodes;
  std::unordered_set<const PickleValue*> seen;
  void add(const PickleRef& v) {
    if (v->is_container() && seen.insert(v.get()).second) nodes.push_back(v);
  }
  PickleArena() = default;
  PickleArena(PickleArena&&) = default;
  PickleArena& operator=(PickleArena&&) = default;
  ~PickleArena() {
    for (auto& n : nodes) {
      n->items.clear();
      n->entries.clear();
      n->attributes.clear();
      n->state.reset();
    }
  }
};

// The result handed out: the root, sharing ownership with the arena.
struct PickleResult {
  PickleArena arena;
  PickleRef root;
};

class Unpickler {
 public:
  Unpickler(const uint8_t* data, size_t size, const UnpicklerHooks& hooks, std::string what)
      : p_(data), end_(data + size), begin_(data), hooks_(hooks), what_(std::move(what)) {}

  PickleRef run() {
    while (true) {
      const uint8_t op = u8();
      switch (op) {
        case 0x80:
          u8();
          break;  // PROTO
        case 0x95:
          take(8);
          break;   // FRAME (length; frames are contiguous)
        case '.': {  // STOP
          if (stack_.size() != 1)
            fail("STOP with " + std::to_string(stack_.size()) + " values on the stack");
          auto result = std::make_shared<PickleResult>();
          result->root = stack_.back();
          result->arena = std::move(arena_);
          arena_.nodes.clear();  // (moved from: now owns nothing, whatever the library did)
          arena_.seen.clear();
          stack_.clear();
          memo_.clear();
          PickleValue* root = result->root.get();
          return PickleRef(std::move(result), root);
        }
        case '(':
          marks_.push_back(stack_.size());
          break;  // MARK
        case '0':
          pop();
          break;  // POP
        case '1':
          pop_mark();
          break;  // POP_MARK
        case '2':
          push(top());
          break;  // DUP
        case 'N':
          push(PickleValue::none());
          break;
        case 0x88:
          push(PickleValue::boolean(true));
          break;
        case 0x89:
          push(PickleValue::boolean(false));
          break;
        case 'J':
          push(PickleValue::integer(static_cast<int32_t>(le(4))));
          break;  // BININT
        case 'K':
          push(PickleValue::integer(u8()));
          break;  // BININT1
        case 'M':
          push(PickleValue::integer(static_cast<int64_t>(le(2))));
          break;  // BININT2
        case 0x8a:
          push(long_n(u8()));
          break;  // LONG1
        case 0x8b:
          push(long_n(le(4)));
          break;  // LONG4
        case 'I':
          push(text_int("INT"));
          break;  // INT
        case 'L':
          push(text_int("LONG"));
          break;  // LONG
        case 'F':
          push(PickleValue::real(text_float()));
          break;  // FLOAT
        case 'G':
          push(PickleValue::real(binfloat()));
          break;  // BINFLOAT
        case 'X':
          push(PickleValue::string(take_str(le(4))));
          break;  // BINUNICODE
        case 0x8c:
          push(PickleValue::string(take_str(u8())));
          break;  // SHORT_BINUNICODE
        case 0x8d:
          push(PickleValue::string(take_str(le(8))));
          break;  // BINUNICODE8
        case 'T':
          push(PickleValue::string(take_str(le(4))));
          break;  // BINSTRING
        case 'U':
          push(PickleValue::string(take_str(u8())));
          break;  // SHORT_BINSTRING
        case 'B':
          push(PickleValue::string(take_str(le(4)), Kind::kBytes));
          break;  // BINBYTES
        case 'C':
          push(PickleValue::string(take_str(u8()), Kind::kBytes));
          break;  // SHORT_BINBYTES
        case 0x8e:
          push(PickleValue::string(take_str(le(8)), Kind::kBytes));
          break;  // BINBYTES8
        case 0x96:
          push(PickleValue::string(take_str(le(8)), Kind::kBytes));
          break;  // BYTEARRAY8
        case ']':
          push(PickleValue::make(Kind::kList));
          break;  // EMPTY_LIST
        case ')':
          push(PickleValue::make(Kind::kTuple));
          break;  // EMPTY_TUPLE
        case '}':
          push(PickleValue::make(Kind::kDict));
          break;  // EMPTY_DICT
        case 0x8f:
          push(PickleValue::make(Kind::kList, "set"));
          break;     // EMPTY_SET
        case 'l': {  // LIST
          auto v = PickleValue::make(Kind::kList);
          v->items = pop_mark();
          push(v);
          break;
        }
        case 't': {  // TUPLE
          auto v = PickleValue::make(Kind::kTuple);
          v->items = pop_mark();
          push(v);
          break;
        }
        case 0x91: {  // FROZENSET
          auto v = PickleValue::make(Kind::kList, "frozenset");
          v->items = pop_mark();
          push(v);
          break;
        }
        case 0x85:
          tuple_n(1);
          break;
        case 0x86:
          tuple_n(2);
          break;
        case 0x87:
          tuple_n(3);
          break;
        case 'd': {  // DICT
          auto v = PickleValue::make(Kind::kDict);
          set_items(*v, pop_mark());
          push(v);
          break;
        }
        case 'a': {  // APPEND
          auto x = pop();
          append_to(*top(), {x});
          break;
        }
        case 'e': {  // APPENDS
          auto xs = pop_mark();
          append_to(*top(), xs);
          break;
        }
        case 0x90: {  // ADDITEMS
          auto xs = pop_mark();
          append_to(*top(), xs);
          break;
        }
        case 's': {  // SETITEM
          auto v = pop();
          auto k = pop();
          set_items(*top(), {k, v});
          break;
        }
        case 'u': {  // SETITEMS
          auto kv = pop_mark();
          set_items(*top(), kv);
          break;
        }
        case 'q':
          memo_put(u8());
          break;  // BINPUT
        case 'r':
          memo_put(le(4));
          break;  // LONG_BINPUT
        case 'p':
          memo_put(text_memo_key("PUT"));
          break;  // PUT
        case 0x94:
          memo_put(memo_.size());
          break;  // MEMOIZE
        case 'h':
          push(memo_get(u8()));
          break;  // BINGET
        case 'j':
          push(memo_get(le(4)));
          break;  // LONG_BINGET
        case 'g':
          push(memo_get(text_memo_key("GET")));
          break;     // GET
        case 'c': {  // GLOBAL
          std::string mod = line();
          std::string name = line();
          push(global(mod + "." + name));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          auto name = pop();
          auto mod = pop();
          if (mod->kind != Kind::kString || name->kind != Kind::kString)
            fail("STACK_GLOBAL of non-strings");
          push(global(mod->str + "." + name->str));
          break;
        }
        case 'R': {  // REDUCE
          auto args = pop();
          auto fn = pop();
          push(call(*fn, args));
          break;
        }
        case 0x81: {  // NEWOBJ
          auto args = pop();
          auto cls = pop();
          push(call(*cls, args));
          break;
        }
        case 0x92: {  // NEWOBJ_EX
          pop();      // kwargs
          auto args = pop();
          auto cls = pop();
          push(call(*cls, args));
          break;
        }
        case 'b': {  // BUILD
          auto st = pop();
          build(top(), st);
          break;
        }
        case 'Q': {  // BINPERSID
          auto pid = pop();
          push(persistent(pid));
          break;
        }
        case 'P':
          push(persistent(PickleValue::string(line())));
          break;  // PERSID
        case 0x82:
        case 0x83:
        case 0x84:
          fail("extension registry opcodes (EXT1/2/4) are not supported");
        case 0x97:
        case 0x98:
          fail("out-of-band buffers (pickle protocol 5 NEXT_BUFFER) are not supported");
        case 'S':
        case 'V':
        case 'i':
        case 'o':
          fail(std::string("text-protocol opcode '") + static_cast<char>(op) +
               "' (pickle protocol 0/1) is not supported; re-save with torch.save");
        default: {
          std::ostringstream os;
          os << "unknown pickle opcode 0x" << std::hex << static_cast<int>(op);
          fail(os.str());
        }
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& msg) const {
    throw IoError(what_ + ": " + msg + " (at byte " + std::to_string(p_ - begin_) + ")",
                  "the file is corrupt or was not written by torch.save");
  }
  void warn(const std::string& msg) {
    if (hooks_.warn && warned_.insert(msg).second) hooks_.warn(what_ + ": " + msg);
  }

  const uint8_t* take(uint64_t n) {
    if (n > static_cast<uint64_t>(end_ - p_)) fail("truncated pickle");
    const uint8_t* r = p_;
    p_ += n;
    return r;
  }
  uint8_t u8() { return *take(1); }
  uint64_t le(int n) {
    const uint8_t* b = take(n);
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | b[i];
    return v;
  }
  std::string take_str(uint64_t n) {
    const uint8_t* b = take(n);
    return std::string(reinterpret_cast<const char*>(b), n);
  }
  std::string line() {
    const uint8_t* nl = static_cast<const uint8_t*>(std::memchr(p_, '\n', end_ - p_));
    if (nl == nullptr) fail("truncated pickle (missing newline)");
    std::string s(reinterpret_cast<const char*>(p_), nl - p_);
    p_ = nl + 1;
    return s;
  }
  double binfloat() {
    const uint8_t* b = take(8);
    uint64_t bits = 0;
    for (int i = 0; i < 8; ++i) bits = (bits << 8) | b[i];  // big-endian
    double d;
    std::memcpy(&d, &bits, 8);
    return d;
  }
  PickleRef long_n(uint64_t n) {
    const uint8_t* b = take(n);
    if (n == 0) return PickleValue::integer(0);
    if (n <= 8) {
      uint64_t v = 0;
      for (int i = static_cast<int>(n) - 1; i >= 0; --i) v = (v << 8) | b[i];
      if (n < 8 && (b[n - 1] & 0x80)) v |= ~uint64_t{0} << (8 * n);  // sign-extend
      return PickleValue::integer(static_cast<int64_t>(v));
    }
    double d = 0;
    for (int i = static_cast<int>(n) - 1; i >= 0; --i) d = d * 256.0 + b[i];
    if (b[n - 1] & 0x80) d -= std::ldexp(1.0, static_cast<int>(8 * n));
    warn("an integer wider than 64 bits was kept as the float " + std::to_string(d));
    return PickleValue::real(d);
  }
  // The text opcodes of protocol 0 carry numbers as a line of text; the whole line must be the
  // number (no std::sto* leniency: "1.5x" or "-1" as a memo key are corrupt pickles).
  PickleRef text_int(const char* op) {
    const std::string s = line();
    if (s == "01") return PickleValue::boolean(true);
    if (s == "00") return PickleValue::boolean(false);
    std::string t = s;
    if (!t.empty() && t.back() == 'L') t.pop_back();
    const size_t digits = !t.empty() && (t[0] == '-' || t[0] == '+') ? 1 : 0;
    if (t.size() == digits || t.find_first_not_of("0123456789", digits) != std::string::npos)
      fail(std::string(op) + " opcode with non-integer text '" + s.substr(0, 40) + "'");
    errno = 0;
    const long long v = std::strtoll(t.c_str(), nullptr, 10);
    if (errno == ERANGE) {  // like LONG1/LONG4 wider than 64 bits: kept as a float
      const double d = std::strtod(t.c_str(), nullptr);
      warn("an integer wider than 64 bits was kept as the float " + std::to_string(d));
      return PickleValue::real(d);
    }
    return PickleValue::integer(v);
  }
  double text_float() {
    const std::string s = line();
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size())
      fail("FLOAT opcode with non-numeric text '" + s.substr(0, 40) + "'");
    return v;
  }
  uint64_t text_memo_key(const char* op) {
    const std::string s = line();
    errno = 0;
    const unsigned long long v = std::strtoull(s.c_str(), nullptr, 10);
    if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || errno == ERANGE)
      fail(std::string(op) + " opcode with memo key '" + s.substr(0, 40) +
           "' (expected a non-negative decimal)");
    return v;
  }

  void push(PickleRef v) {
    arena_.add(v);
    stack_.push_back(std::move(v));
  }
  PickleRef pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back()))
      fail("stack underflow");
    auto v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  const PickleRef& top() {
    if (stack_.empty()) fail("stack underflow");
    return stack_.back();
  }
  std::vector<PickleRef> pop_mark() {
    if (marks_.empty()) fail("MARK missing");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<PickleRef> out(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return out;
  }
  void tuple_n(size_t n) {
    auto v = PickleValue::make(Kind::kTuple);
    v->items.resize(n);
    for (size_t k = n; k-- > 0;) v->items[k] = pop();
    push(v);
  }
  void memo_put(uint64_t idx) { memo_[idx] = top(); }
  PickleRef memo_get(uint64_t idx) {
    auto it = memo_.find(idx);
    if (it == memo_.end()) fail("memo key " + std::to_string(idx) + " not found");
    return it->second;
  }

  void set_items(PickleValue& target, const std::vector<PickleRef>& kv) {
    if (kv.size() % 2 != 0) fail("SETITEMS with an odd number of values");
    if (target.kind != Kind::kDict && target.kind != Kind::kObject) {
      fail("SETITEM on a " + target.kind_name());
    }
    for (size_t k = 0; k < kv.size(); k += 2) target.entries.emplace_back(kv[k], kv[k + 1]);
  }
  void append_to(PickleValue& target, const std::vector<PickleRef>& xs) {
    if (target.kind != Kind::kList && target.kind != Kind::kObject)
      fail("APPEND on a " + target.kind_name());
    target.items.insert(target.items.end(), xs.begin(), xs.end());
  }

  PickleRef global(const std::string& raw) {
    auto v = PickleValue::make(Kind::kGlobal);
    v->str = canonical_global(raw);
    return v;
  }

  PickleRef persistent(const PickleRef& pid) {
    if (!hooks_.persistent_load) fail("persistent id " + pid->repr() + " without a storage loader");
    return hooks_.persistent_load(pid);
  }

  // ---- REDUCE / NEWOBJ: recognise the callables torch.save emits; never execute anything.
  PickleRef call(const PickleValue& fn, const PickleRef& args_ref) {
    if (fn.kind != Kind::kGlobal) fail("call of a non-global " + fn.repr());
    const std::string& name = fn.str;
    const PickleValue& args = *args_ref;
    const auto& a = args.items;
    auto arg = [&](size_t k) -> const PickleValue& {
      if (args.kind != Kind::kTuple || k >= a.size()) fail(name + " called with too few arguments");
      return *a[k];
    };

    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
      return rebuild_tensor(name, arg(0), arg(1), arg(2), arg(3),
                            a.size() > 4 ? a[4].get() : nullptr,
                            a.size() > 5 ? a[5].get() : nullptr, c10::nullopt);
    }
    if (name == "torch._utils._rebuild_tensor_v3") {
      const auto& dt = arg(6);
      if (dt.kind != Kind::kGlobal) fail(name + ": dtype argument is not a torch dtype");
      return rebuild_tensor(name, arg(0), arg(1), arg(2), arg(3), a[4].get(), a[5].get(),
                            torch_dtype_global(dt.str, what_));
    }
    if (name == "torch._utils._rebuild_parameter" ||
        name == "torch._utils._rebuild_parameter_with_state") {
      const auto& data = arg(0);
      if (data.kind != Kind::kTensor) fail(name + ": first argument is not a tensor");
      auto out = PickleValue::make(Kind::kTensor);
      out->tensor = std::make_shared<TensorRef>(*data.tensor);
      out->tensor->is_parameter = true;
      out->tensor->requires_grad = arg(1).kind == Kind::kBool && arg(1).b;
      check_hooks(a.size() > 2 ? a[2].get() : nullptr);
      if (a.size() > 3 &&
          !(a[3]->kind == Kind::kNone || (a[3]->kind == Kind::kDict && a[3]->entries.empty()))) {
        warn("Parameter Python attributes (" + a[3]->repr(60) + ") were ignored");
      }
      return out;
    }
    if (name == "torch._tensor._rebuild_from_type_v2" ||
        name == "torch._tensor._rebuild_from_type") {
      auto t = call(arg(0), a.at(2));
      const auto& cls = arg(1);
      if (t->kind == Kind::kTensor && cls.kind == Kind::kGlobal &&
          cls.str == "torch.nn.parameter.Parameter") {
        t->tensor->is_parameter = true;
      } else if (cls.kind == Kind::kGlobal && cls.str != "torch.Tensor" &&
                 cls.str != "torch.nn.parameter.Parameter") {
        warn("tensor subclass " + cls.str + " was loaded as a plain tensor");
      }
      if (a.size() > 3 && a[3]->kind == Kind::kDict && !a[3]->entries.empty()) {
        warn("tensor Python attributes (" + a[3]->repr(60) + ") were ignored");
      }
      return t;
    }
    if (starts_with(name, "torch._utils._rebuild_")) {
      std::string kind = "this tensor kind";
      if (name.find("qtensor") != std::string::npos)
        kind = "quantized tensors";
      else if (name.find("sparse") != std::string::npos)
        kind = "sparse tensors";
      else if (name.find("nested") != std::string::npos)
        kind = "nested tensors";
      else if (name.find("meta") != std::string::npos)
        kind = "meta tensors (no data)";
      else if (name.find("numpy") != std::string::npos || name.find("xla") != std::string::npos ||
               name.find("mlc") != std::string::npos || name.find("device") != std::string::npos) {
        kind = "device-specific tensors";
      } else if (name.find("wrapper_subclass") != std::string::npos)
        kind = "tensor wrapper subclasses";
      throw IoError(what_ + ": unsupported construct " + name + ": " + kind + " cannot be loaded",
                    "convert the tensor to a dense CPU tensor in Python and re-save");
    }
    if (name == "collections.OrderedDict" || name == "builtins.dict" ||
        name == "collections.defaultdict") {
      auto d = PickleValue::make(Kind::kDict, name == "builtins.dict" ? "" : name);
      if (name != "collections.defaultdict" && args.kind == Kind::kTuple && !a.empty() &&
          (a[0]->kind == Kind::kList || a[0]->kind == Kind::kTuple)) {
        for (const auto& pair : a[0]->items) {
          if (pair->kind != Kind::kTuple && pair->kind != Kind::kList) fail(name + " of non-pairs");
          if (pair->items.size() != 2) fail(name + " of non-pairs");
          d->entries.emplace_back(pair->items[0], pair->items[1]);
        }
      }
      return d;
    }
    if (name == "torch.Size" || name == "builtins.tuple") {
      auto t = PickleValue::make(Kind::kTuple);
      if (!a.empty()) t->items = arg(0).items;
      return t;
    }
    if (name == "builtins.list" || name == "builtins.set" || name == "builtins.frozenset") {
      auto l = PickleValue::make(Kind::kList, name == "builtins.list" ? "" : name.substr(9));
      if (!a.empty()) l->items = arg(0).items;
      return l;
    }
    if (name == "_codecs.encode") {
      const auto& s = arg(0);
      const std::string enc = a.size() > 1 && a[1]->kind == Kind::kString ? a[1]->str : "utf-8";
      if (s.kind != Kind::kString) fail("_codecs.encode of a " + s.kind_name());
      return PickleValue::string(
          enc == "latin1" || enc == "latin-1" ? latin1_bytes(s.str, what_) : s.str, Kind::kBytes);
    }
    if (name == "builtins.bytes" || name == "builtins.bytearray") {
      if (a.empty()) return PickleValue::string("", Kind::kBytes);
      const auto& s = arg(0);
      if (s.kind == Kind::kBytes) return PickleValue::string(s.str, Kind::kBytes);
      if (s.kind == Kind::kString) {
        const bool l1 =
            a.size() > 1 && a[1]->kind == Kind::kString && a[1]->str.rfind("latin", 0) == 0;
        return PickleValue::string(l1 ? latin1_bytes(s.str, what_) : s.str, Kind::kBytes);
      }
      if (s.kind == Kind::kList) {
        std::string out;
        for (const auto& x : s.items) out.push_back(static_cast<char>(x->i));
        return PickleValue::string(out, Kind::kBytes);
      }
    }
    if (name == "numpy.core.multiarray.scalar") return numpy_scalar_value(arg(0), arg(1), what_);
    if (name == "numpy.core.multiarray._reconstruct") {
      return PickleValue::make(Kind::kObject, "numpy.ndarray");  // filled in by BUILD
    }
    if (name == "copyreg._reconstructor") {  // protocol 0/1 objects: (cls, base, state)
      const auto& cls = arg(0);
      auto o = PickleValue::make(Kind::kObject, cls.kind == Kind::kGlobal ? cls.str : "object");
      warn_object(o->str);
      return o;
    }
    if (name == "torch.device" && !a.empty() && a[0]->kind == Kind::kString) {
      auto o = PickleValue::make(Kind::kObject, name);
      o->items = a;
      return o;
    }
    // Any other class or function: keep it as an inspectable object (arguments + attributes).
    auto o = PickleValue::make(Kind::kObject, name);
    if (args.kind == Kind::kTuple) o->items = a;
    warn_object(name);
    return o;
  }

  void warn_object(const std::string& cls) {
    if (cls == "argparse.Namespace") {
      warn("argparse.Namespace kept as an inspectable object (its attributes are readable)");
    } else if (cls != "numpy.dtype" && cls != "torch.device") {
      warn(cls +
           " is not a plain container; kept as an inspectable object (arguments and "
           "attributes), its behaviour is not reproduced");
    }
  }

  void check_hooks(const PickleValue* hooks) {
    if (hooks != nullptr && hooks->kind == Kind::kDict && !hooks->entries.empty()) {
      warn("tensor backward hooks were ignored");
    }
  }

  PickleRef rebuild_tensor(const std::string& name, const PickleValue& storage,
                           const PickleValue& offset, const PickleValue& size,
                           const PickleValue& stride, const PickleValue* requires_grad,
                           const PickleValue* hooks, c10::optional<at::ScalarType> dtype) {
    if (storage.kind != Kind::kStorage) fail(name + ": first argument is not a storage");
    if (offset.kind != Kind::kInt) fail(name + ": storage offset is not an integer");
    auto t = std::make_shared<TensorRef>();
    t->storage = storage.storage;
    t->dtype = dtype.value_or(storage.storage->dtype);
    t->offset = offset.i;
    t->sizes = int_list(size, what_, "size");
    t->strides = int_list(stride, what_, "stride");
    t->requires_grad =
        requires_grad != nullptr && requires_grad->kind == Kind::kBool && requires_grad->b;
    check_hooks(hooks);
    if (t->sizes.size() != t->strides.size()) fail(name + ": size and stride lengths differ");
    // Bounds: the furthest element must lie inside the storage.
    uint64_t storage_bytes = 0;
    if (storage.storage->numel < 0 ||
        __builtin_mul_overflow(static_cast<uint64_t>(storage.storage->numel),
                               at::elementSize(storage.storage->dtype), &storage_bytes)) {
      fail(name + ": storage '" + storage.storage->key + "' has an impossible element count " +
           std::to_string(storage.storage->numel));
    }
    // Sizes, strides and offset come from the file: every product and sum is overflow-checked
    // (an overflow is a view no storage can hold).
    if (t->offset < 0) fail(name + ": negative storage offset");
    int64_t numel = 1, last = t->offset;
    bool empty = false;
    for (size_t d = 0; d < t->sizes.size(); ++d) {
      if (t->sizes[d] < 0 || t->strides[d] < 0) fail(name + ": negative size or stride");
      empty = empty || t->sizes[d] == 0;
    }
    for (size_t d = 0; d < t->sizes.size() && !empty; ++d) {
      int64_t span = 0;
      if (__builtin_mul_overflow(numel, t->sizes[d], &numel) ||
          __builtin_mul_overflow(t->sizes[d] - 1, t->strides[d], &span) ||
          __builtin_add_overflow(last, span, &last)) {
        fail(name + ": tensor size/stride overflow a 64-bit element count");
      }
    }
    if (empty) numel = 0;
    uint64_t end_bytes = 0;
    if (numel > 0 && (__builtin_mul_overflow(static_cast<uint64_t>(last) + 1,
                                             at::elementSize(t->dtype), &end_bytes) ||
                      end_bytes > storage_bytes)) {
      fail(name + ": view (offset " + std::to_string(t->offset) +
           ") reaches past the end of storage '" + storage.storage->key + "' (" +
           std::to_string(storage.storage->numel) + " elements)");
    }
    auto v = PickleValue::make(Kind::kTensor);
    v->tensor = std::move(t);
    return v;
  }

  void build(const PickleRef& obj_ref, const PickleRef& st) {
    PickleValue& obj = *obj_ref;
    if (obj.kind == Kind::kObject && obj.str == "numpy.ndarray")
      return numpy_array_from_state(obj, *st, what_);
    if (obj.kind == Kind::kObject && obj.str == "numpy.dtype") {
      obj.state = st;
      return;
    }
    if (obj.kind != Kind::kDict && obj.kind != Kind::kObject) {
      if (obj.kind == Kind::kTensor) {
        warn("tensor Python attributes were ignored");
        return;
      }
      fail("BUILD on a " + obj.kind_name());
    }
    auto add_dict = [&](const PickleValue& d) {
      for (const auto& [k, v] : d.entries)
        obj.attributes.emplace_back(PickleValue::key_text(*k), v);
    };
    if (st->kind == Kind::kDict) {
      add_dict(*st);
    } else if (st->kind == Kind::kTuple && st->items.size() == 2 &&
               (st->items[0]->kind == Kind::kDict || st->items[0]->kind == Kind::kNone) &&
               (st->items[1]->kind == Kind::kDict || st->items[1]->kind == Kind::kNone)) {
      for (const auto& part : st->items) {
        if (part->kind == Kind::kDict) add_dict(*part);  // (__dict__, __slots__ state)
      }
    } else if (st->kind != Kind::kNone) {
      obj.state = st;
    }
  }

  const uint8_t* p_;
  const uint8_t* end_;
  const uint8_t* begin_;
  const UnpicklerHooks& hooks_;
  std::string what_;
  std::vector<PickleRef> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PickleRef> memo_;
  std::set<std::string> warned_;
  PickleArena arena_;  // declared last: destroyed first, so a failed parse frees its cycles too
};

}  // namespace

at::ScalarType storage_dtype(const std::string& cls) {
  static const std::unordered_map<std::string, at::ScalarType> kMap = {
      {"torch.FloatStorage", at::kFloat},
      {"torch.DoubleStorage", at::kDouble},
      {"torch.HalfStorage", at::kHalf},
      {"torch.BFloat16Storage", at::kBFloat16},
      {"torch.LongStorage", at::kLong},
      {"torch.IntStorage", at::kInt},
      {"torch.ShortStorage", at::kShort},
      {"torch.CharStorage", at::kChar},
      {"torch.ByteStorage", at::kByte},
      {"torch.BoolStorage", at::kBool},
      {"torch.ComplexFloatStorage", at::kComplexFloat},
      {"torch.ComplexDoubleStorage", at::kComplexDouble},
      {"torch.UntypedStorage", at::kByte},
  };
  auto it = kMap.find(cls);
  if (it != kMap.end()) return it->second;
  std::string hint =
      "supported: Float, Double, Half, BFloat16, Long, Int, Short, Char, Byte, Bool, "
      "ComplexFloat, ComplexDouble and Untyped storages";
  if (cls.find("QInt") != std::string::npos || cls.find("QUInt") != std::string::npos) {
    hint = "quantized storages cannot be loaded; dequantize in Python and re-save";
  }
  throw IoError("unsupported storage type " + cls, hint);
}

PickleRef unpickle(const uint8_t* data, size_t size, const UnpicklerHooks& hooks,
                   const std::string& what) {
  return Unpickler(data, size, hooks, what).run();
}

}  // namespace ibllm::io
