// torch.save writer: a protocol-2 pickle emitted here (the same opcode sequence Python's pickler
// produces for a dict of tensors) inside a PyTorchStreamWriter zip. The zip writer is given a sink
// that never reports a short write: its destructor finalizes the archive and would throw from a
// destructor (std::terminate) after a reported failure, so I/O errors are recorded in the sink
// and thrown by us after the writer call that hit them.
#include "src/io/pth_writer.h"

#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <set>

#include "src/core/error.h"
#include "src/core/kill_point.h"

namespace ibllm::io {
namespace {

constexpr const char* kSupported =
    "supported: float32, float16, bfloat16, float64, int64, int32, int16, int8, uint8, bool";

// Python's pickler groups dict items in SETITEMS batches of this size; we do the same.
constexpr size_t kSetItemsBatch = 1000;

// Protocol-2 opcodes (pickletools names).
namespace op {
constexpr char kProto = '\x80';
constexpr char kStop = '.';
constexpr char kMark = '(';
constexpr char kEmptyDict = '}';
constexpr char kEmptyTuple = ')';
constexpr char kTuple = 't';
constexpr char kTuple1 = '\x85';
constexpr char kTuple2 = '\x86';
constexpr char kTuple3 = '\x87';
constexpr char kGlobal = 'c';
constexpr char kBinPut = 'q';
constexpr char kLongBinPut = 'r';
constexpr char kBinGet = 'h';
constexpr char kLongBinGet = 'j';
constexpr char kBinInt = 'J';
constexpr char kBinInt1 = 'K';
constexpr char kBinInt2 = 'M';
constexpr char kLong1 = '\x8a';
constexpr char kBinUnicode = 'X';
constexpr char kNewFalse = '\x89';
constexpr char kReduce = 'R';
constexpr char kBinPersId = 'Q';
constexpr char kSetItem = 's';
constexpr char kSetItems = 'u';
}  // namespace op

// Appends pickle opcodes to a byte string. Globals are memoized (BINPUT once, BINGET after) like
// Python does, so a 700-tensor state dict does not repeat the module paths 700 times.
class PickleEmitter {
 public:
  const std::string& bytes() const { return out_; }

  void opcode(char c) { out_.push_back(c); }

  void proto2() {
    opcode(op::kProto);
    out_.push_back('\x02');
  }

  void global(const std::string& module, const std::string& name) {
    const std::string key = module + "\n" + name + "\n";
    auto it = memo_.find(key);
    if (it != memo_.end()) {
      if (it->second < 256) {
        opcode(op::kBinGet);
        out_.push_back(static_cast<char>(it->second));
      } else {
        opcode(op::kLongBinGet);
        le(it->second, 4);
      }
      return;
    }
    opcode(op::kGlobal);
    out_ += key;
    const auto index = static_cast<uint32_t>(memo_.size());
    memo_[key] = index;
    if (index < 256) {
      opcode(op::kBinPut);
      out_.push_back(static_cast<char>(index));
    } else {
      opcode(op::kLongBinPut);
      le(index, 4);
    }
  }

  void str(const std::string& s) {
    opcode(op::kBinUnicode);
    le(s.size(), 4);
    out_ += s;
  }

  void integer(int64_t v) {
    if (v >= 0 && v < 256) {
      opcode(op::kBinInt1);
      le(static_cast<uint64_t>(v), 1);
    } else if (v >= 0 && v < 65536) {
      opcode(op::kBinInt2);
      le(static_cast<uint64_t>(v), 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      opcode(op::kBinInt);
      le(static_cast<uint64_t>(static_cast<uint32_t>(static_cast<int32_t>(v))), 4);
    } else {
      // Minimal little-endian two's complement: drop high bytes that only repeat the sign.
      std::string b;
      for (int i = 0; i < 8; ++i)
        b.push_back(static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xff));
      while (b.size() > 1) {
        const auto last = static_cast<uint8_t>(b.back());
        const auto prev = static_cast<uint8_t>(b[b.size() - 2]);
        if ((last == 0x00 && !(prev & 0x80)) || (last == 0xff && (prev & 0x80))) {
          b.pop_back();
        } else {
          break;
        }
      }
      opcode(op::kLong1);
      out_.push_back(static_cast<char>(b.size()));
      out_ += b;
    }
  }

  void int_tuple(c10::IntArrayRef values) {
    if (values.empty()) {
      opcode(op::kEmptyTuple);
      return;
    }
    if (values.size() > 3) opcode(op::kMark);
    for (const int64_t v : values) integer(v);
    static constexpr char kSmall[] = {op::kTuple1, op::kTuple2, op::kTuple3};
    opcode(values.size() > 3 ? op::kTuple : kSmall[values.size() - 1]);
  }

  // collections.OrderedDict() -- an empty one; items follow with MARK ... SETITEMS.
  void ordered_dict() {
    global("collections", "OrderedDict");
    opcode(op::kEmptyTuple);
    opcode(op::kReduce);
  }

 private:
  void le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }

  std::string out_;
  std::map<std::string, uint32_t> memo_;
};

bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<uint8_t>(s[i]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      n = 1, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

// A name for error messages: printable ASCII kept, everything else as \xNN.
std::string printable(const std::string& s) {
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<uint8_t>(ch);
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(ch);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

// Checks every input before anything is written, so a bad call leaves no file behind.
void validate(const std::string& path,
              const std::vector<std::pair<std::string, at::Tensor>>& tensors,
              const std::string& wrap_key) {
  const std::string where = path + ": cannot write .pth: ";
  if (!valid_utf8(wrap_key)) {
    throw IoError(where + "wrap key '" + printable(wrap_key) + "' is not valid UTF-8",
                  "Python pickles keys as str; use a UTF-8 name");
  }
  std::set<std::string> seen;
  for (const auto& [name, t] : tensors) {
    const std::string what = where + "tensor '" + printable(name) + "' ";
    if (!seen.insert(name).second) {
      throw IoError(what + "appears twice", "state-dict names must be unique");
    }
    if (!valid_utf8(name)) {
      throw IoError(what + "has a name that is not valid UTF-8",
                    "Python pickles keys as str; use a UTF-8 name");
    }
    if (!t.defined()) throw IoError(what + "is undefined (an empty at::Tensor())");
    if (t.layout() != at::kStrided) {
      throw IoError(what + "is not a dense (strided) tensor",
                    "convert sparse tensors with .to_dense() before exporting");
    }
    if (t.is_meta()) {
      throw IoError(what + "is a meta tensor and has no data",
                    "materialize it (e.g. load weights) before exporting");
    }
    try {
      pth_storage_class(t.scalar_type());
    } catch (const IoError&) {
      throw IoError(what + "has dtype " + c10::toString(t.scalar_type()) +
                        ", which write_pth does not support",
                    std::string(kSupported) + "; convert it with .to(dtype) first");
    }
  }
}

// Output for the zip writer: a file descriptor written with write(2). Failures are remembered and
// reported by check(), never to the zip writer (see the file comment).
class FileSink {
 public:
  FileSink(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}

  size_t write(const void* data, size_t n) {
    if (error_ != 0) return n;
    const char* p = static_cast<const char*>(data);
    size_t left = n;
    while (left > 0) {
      const ssize_t w = ::write(fd_, p, left);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        error_ = w < 0 ? errno : EIO;
        return n;
      }
      p += w;
      left -= static_cast<size_t>(w);
    }
    written_ += n;
    return n;
  }

  void check(const std::string& during) const {
    if (error_ != 0) {
      throw IoError(path_ + ": write failed while writing " + during + " (after " +
                        std::to_string(written_) + " bytes): " + std::strerror(error_),
                    "is the disk full or the file system read-only?");
    }
  }

 private:
  std::string path_;
  int fd_;
  int error_ = 0;
  uint64_t written_ = 0;
};

// Closes and removes the temporary file unless commit() ran.
class TempFile {
 public:
  explicit TempFile(std::string path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd_ < 0) {
      throw IoError(path_ + ": cannot create: " + std::strerror(errno),
                    "check that the directory exists and is writable");
    }
  }
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) std::remove(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  int fd() const { return fd_; }

  void commit(const std::string& final_path) {
    if (::fsync(fd_) != 0) throw IoError(path_ + ": fsync failed: " + std::strerror(errno));
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) throw IoError(path_ + ": close failed: " + std::strerror(errno));
    if (std::rename(path_.c_str(), final_path.c_str()) != 0) {
      throw IoError(final_path + ": cannot rename from " + path_ + ": " + std::strerror(errno));
    }
    committed_ = true;
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool committed_ = false;
};

// Strides of the contiguous copy we write (torch's rule: a size-0 dim counts as 1).
std::vector<int64_t> dense_strides(c10::IntArrayRef sizes) {
  std::vector<int64_t> strides(sizes.size());
  int64_t s = 1;
  for (size_t d = sizes.size(); d-- > 0;) {
    strides[d] = s;
    s *= std::max<int64_t>(sizes[d], 1);
  }
  return strides;
}

std::string build_pickle(const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                         const std::string& wrap_key) {
  PickleEmitter p;
  p.proto2();
  if (!wrap_key.empty()) {
    p.opcode(op::kEmptyDict);
    p.str(wrap_key);
  }
  p.ordered_dict();
  for (size_t begin = 0; begin < tensors.size(); begin += kSetItemsBatch) {
    const size_t end = std::min(tensors.size(), begin + kSetItemsBatch);
    p.opcode(op::kMark);
    for (size_t i = begin; i < end; ++i) {
      const at::Tensor& t = tensors[i].second;
      p.str(tensors[i].first);
      // torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
      //                                 backward_hooks)
      p.global("torch._utils", "_rebuild_tensor_v2");
      p.opcode(op::kMark);
      // persistent id ('storage', torch.<X>Storage, key, location, numel) -> BINPERSID
      p.opcode(op::kMark);
      p.str("storage");
      p.global("torch", pth_storage_class(t.scalar_type()));
      p.str(std::to_string(i));
      p.str("cpu");
      p.integer(t.numel());
      p.opcode(op::kTuple);
      p.opcode(op::kBinPersId);
      p.integer(0);
      p.int_tuple(t.sizes());
      p.int_tuple(dense_strides(t.sizes()));
      p.opcode(op::kNewFalse);
      p.ordered_dict();
      p.opcode(op::kTuple);
      p.opcode(op::kReduce);
    }
    p.opcode(op::kSetItems);
  }
  if (!wrap_key.empty()) p.opcode(op::kSetItem);
  p.opcode(op::kStop);
  return p.bytes();
}

}  // namespace

std::string pth_storage_class(at::ScalarType dtype) {
  static const std::pair<at::ScalarType, const char*> kClasses[] = {
      {at::kFloat, "FloatStorage"},       {at::kHalf, "HalfStorage"},
      {at::kBFloat16, "BFloat16Storage"}, {at::kDouble, "DoubleStorage"},
      {at::kLong, "LongStorage"},         {at::kInt, "IntStorage"},
      {at::kShort, "ShortStorage"},       {at::kChar, "CharStorage"},
      {at::kByte, "ByteStorage"},         {at::kBool, "BoolStorage"}};
  for (const auto& [d, name] : kClasses)
    if (d == dtype) return name;
  throw IoError(std::string("dtype ") + c10::toString(dtype) + " cannot be written to a .pth file",
                kSupported);
}

void write_pth(const std::string& path,
               const std::vector<std::pair<std::string, at::Tensor>>& tensors,
               const std::string& wrap_key) {
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
  throw IoError(path + ": write_pth supports little-endian hosts only");
#endif
  validate(path, tensors, wrap_key);
  const std::string pickle = build_pickle(tensors, wrap_key);
  const std::string tmp_path = path + ".tmp";

  TempFile tmp(tmp_path);  // declared before the writer: the writer's destructor writes to it
  FileSink sink(tmp_path, tmp.fd());
  using Writer = caffe2::serialize::PyTorchStreamWriter;
  auto writer = std::make_unique<Writer>(
      [&sink](const void* data, size_t n) -> size_t { return sink.write(data, n); });
  // Runs one zip-writer call; I/O failures surface through the sink. A c10::Error from the writer
  // itself leaves miniz in an error state in which the writer's destructor would throw again
  // (std::terminate), so that writer is deliberately leaked on this failure path.
  auto zip_call = [&](const std::string& what, const auto& fn) {
    try {
      fn(*writer);
    } catch (const c10::Error& e) {
      (void)writer.release();
      throw IoError(tmp_path + ": zip writer failed while writing " + what + ": " +
                    e.what_without_backtrace());
    }
    sink.check(what);
  };

  zip_call("data.pkl", [&](Writer& w) { w.writeRecord("data.pkl", pickle.data(), pickle.size()); });
  static const std::string kByteOrder = "little";
  zip_call("byteorder",
           [&](Writer& w) { w.writeRecord("byteorder", kByteOrder.data(), kByteOrder.size()); });
  static const char kNoData = 0;  // a valid pointer for empty records
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& [name, t] = tensors[i];
    const at::Tensor c = t.detach().to(at::kCPU).contiguous();
    const size_t nbytes = static_cast<size_t>(c.numel()) * c.element_size();
    const void* data = nbytes > 0 ? c.data_ptr() : &kNoData;
    zip_call("tensor '" + printable(name) + "'",
             [&](Writer& w) { w.writeRecord("data/" + std::to_string(i), data, nbytes); });
    core::kill_point("pth.tensor");  // test seam: a file killed half-written
  }
  zip_call("the zip directory", [](Writer& w) { w.writeEndOfFile(); });
  writer.reset();
  tmp.commit(path);
}

}  // namespace ibllm::io
