// torch.save zip reader: PyTorchStreamReader lists records and gives their offsets; data.pkl goes
// through our unpickler; storages "data/<key>" are mapped or pread on demand. A record is used in
// place only after its zip local header confirms it is stored uncompressed (torch.save always
// stores, but a re-zipped file may deflate: those records are extracted through the zip reader).
#include "src/io/pth_reader.h"

#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>

#include "src/core/error.h"
#include "src/io/mapped_file.h"
#include "src/io/zip_directory.h"

namespace ibllm::io {
namespace {

using Kind = PickleValue::Kind;

constexpr const char* kResaveHint =
    "load it once in Python and re-save with a current PyTorch: "
    "torch.save(torch.load(f, map_location='cpu'), 'new.pth')";

// Rejects the formats that look like .pth but are not torch.save zip archives, by magic bytes.
void check_magic(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path + ": cannot open: " + std::strerror(errno), "check the path");
  char head[512] = {};
  in.read(head, sizeof(head));
  const auto got = in.gcount();
  if (got >= 4 && std::memcmp(head, "PK\x03\x04", 4) == 0) return;
  if (got >= 2 && static_cast<uint8_t>(head[0]) == 0x80) {
    throw IoError(path +
                      ": legacy (pre-zip) torch.save format: a raw pickle stream written by "
                      "PyTorch < 1.6 or with _use_new_zipfile_serialization=False; this reader "
                      "only supports the zip format",
                  kResaveHint);
  }
  if (got >= 262 && std::memcmp(head + 257, "ustar", 5) == 0) {
    throw IoError(path + ": legacy tar-based torch.save format (PyTorch <= 0.3)", kResaveHint);
  }
  throw IoError(path + ": not a PyTorch zip archive (no zip signature)",
                "expected a file written by torch.save; safetensors files end in .safetensors");
}

std::string join_path(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "/" + key;
}

// torch.save nests a few levels; a pickle may nest millions (two bytes a level). Deeper than this
// is refused instead of recursing until the stack overflows.
constexpr size_t kMaxNesting = 1000;

void walk_impl(const PickleValue& v, const std::string& prefix,
               const std::function<void(const std::string&, const TensorRef&)>& on_tensor,
               const std::function<void(const std::string&, const PickleValue&)>& on_value,
               std::set<const PickleValue*>& active) {
  if (active.size() > kMaxNesting) {
    throw IoError("pickle nests containers more than " + std::to_string(kMaxNesting) +
                      " levels deep (at '" + prefix.substr(0, 200) + "...')",
                  "the file is corrupt or not a checkpoint");
  }
  if (v.kind == Kind::kTensor) {
    if (on_tensor) on_tensor(prefix, *v.tensor);
    return;
  }
  const bool container = v.kind == Kind::kList || v.kind == Kind::kTuple || v.kind == Kind::kDict ||
                         (v.kind == Kind::kObject && v.str != "torch.device");
  if (!container || (v.items.empty() && v.entries.empty() && v.attributes.empty())) {
    if (on_value) on_value(prefix, v);
    return;
  }
  if (!active.insert(&v).second) {  // a self-referencing structure: do not recurse forever
    if (on_value) on_value(prefix, v);
    return;
  }
  if (v.kind == Kind::kObject) {
    for (size_t k = 0; k < v.items.size(); ++k) {
      walk_impl(*v.items[k], join_path(prefix, "arg" + std::to_string(k)), on_tensor, on_value,
                active);
    }
    for (const auto& [k, x] : v.attributes)
      walk_impl(*x, join_path(prefix, k), on_tensor, on_value, active);
    for (const auto& [k, x] : v.entries) {
      walk_impl(*x, join_path(prefix, PickleValue::key_text(*k)), on_tensor, on_value, active);
    }
  } else if (v.kind == Kind::kDict) {
    for (const auto& [k, x] : v.entries) {
      walk_impl(*x, join_path(prefix, PickleValue::key_text(*k)), on_tensor, on_value, active);
    }
  } else {
    for (size_t k = 0; k < v.items.size(); ++k) {
      walk_impl(*v.items[k], join_path(prefix, std::to_string(k)), on_tensor, on_value, active);
    }
  }
  active.erase(&v);
}

}  // namespace

void walk_pickle(const PickleValue& v, const std::string& prefix,
                 const std::function<void(const std::string&, const TensorRef&)>& on_tensor,
                 const std::function<void(const std::string&, const PickleValue&)>& on_value) {
  std::set<const PickleValue*> active;
  walk_impl(v, prefix, on_tensor, on_value, active);
}

PthFile::PthFile(const std::string& path) : path_(path) {
  check_magic(path);
  // The file stays open for reads; until the constructor has succeeded `owner` closes it on a
  // throw. Our own look at the zip directory comes first: LibTorch allocates declared sizes.
  struct stat st {};
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fstat(fd, &st) != 0) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    throw IoError(path + ": cannot open: " + std::strerror(err));
  }
  struct CloseOnThrow {
    int fd;
    ~CloseOnThrow() {
      if (fd >= 0) ::close(fd);
    }
  } owner{fd};
  for (const auto& e : read_zip_directory(fd, static_cast<uint64_t>(st.st_size), path))
    if (e.method == 0)  // names as LibTorch gives them: without the archive's top folder
      stored_records_.insert(e.name.substr(e.name.find('/') + 1));
  try {
    zip_ = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
  } catch (const c10::Error& e) {
    throw IoError(path + ": not a readable PyTorch zip archive: " + e.what_without_backtrace(),
                  "the file may be truncated; compare its size with the original");
  }
  std::vector<std::string> records;
  try {
    records = zip_->getAllRecords();
  } catch (const c10::Error& e) {
    throw IoError(path + ": cannot list zip records: " + e.what_without_backtrace());
  }
  const std::set<std::string> names(records.begin(), records.end());
  for (const auto& r : records) {
    if (r == "constants.pkl" || r.rfind("code/", 0) == 0) {
      throw IoError(path + ": a TorchScript archive (torch.jit.save), not a torch.save checkpoint",
                    "export the weights with torch.save(model.state_dict(), f) instead");
    }
  }
  if (!names.count("data.pkl")) {
    throw IoError(path + ": zip archive has no data.pkl record; not written by torch.save");
  }
  if (names.count("byteorder")) {
    auto [ptr, n] = read_record("byteorder");
    const std::string order(static_cast<const char*>(ptr.get()), n);
    if (order != "little") {
      throw IoError(path + ": tensors were saved in '" + order +
                    "' byte order; only little-endian is supported");
    }
  }
  auto [pkl, pkl_size] = read_record("data.pkl");
  UnpicklerHooks hooks;
  hooks.warn = [this](const std::string& w) { warnings_.push_back(w); };
  hooks.persistent_load = [this, &names](const PickleRef& pid) -> PickleRef {
    const std::string what = path_ + ":data.pkl";
    if (pid->kind != Kind::kTuple || pid->items.size() < 5 ||
        pid->items[0]->kind != Kind::kString || pid->items[0]->str != "storage") {
      throw IoError(what + ": unsupported persistent id " + pid->repr(),
                    "only torch storages ('storage', type, key, location, numel) are supported");
    }
    const auto& type = *pid->items[1];
    const auto& key = *pid->items[2];
    const auto& loc = *pid->items[3];
    const auto& numel = *pid->items[4];
    if (type.kind != Kind::kGlobal || key.kind != Kind::kString || numel.kind != Kind::kInt) {
      throw IoError(what + ": malformed storage id " + pid->repr());
    }
    at::ScalarType dtype;
    try {
      dtype = storage_dtype(type.str);
    } catch (const IoError& e) {
      throw IoError(what + ": " + e.what(), e.hint());
    }
    auto& slot = storages_[key.str];
    if (!slot) {
      if (!names.count("data/" + key.str)) {
        throw IoError(
            what + ": storage '" + key.str + "' has no record data/" + key.str + " in the archive",
            "the file is incomplete or corrupt");
      }
      // The declared size must fit the record before anything is sized from it.
      const uint64_t have = record_size("data/" + key.str);
      const uint64_t item = at::elementSize(dtype);
      if (numel.i < 0 || static_cast<uint64_t>(numel.i) > have / item) {
        throw IoError(what + ": storage '" + key.str + "' declares " + std::to_string(numel.i) +
                          " elements of " + type.str + " but its record data/" + key.str +
                          " holds " + std::to_string(have) + " bytes",
                      "the file is incomplete or corrupt");
      }
      slot = std::make_shared<StorageRef>();
      slot->key = key.str;
      slot->dtype = dtype;
      slot->numel = numel.i;
      slot->location = loc.kind == Kind::kString ? loc.str : "cpu";
    }
    auto v = PickleValue::make(Kind::kStorage);
    v->storage = slot;
    return v;
  };
  root_ = unpickle(static_cast<const uint8_t*>(pkl.get()), pkl_size, hooks, path_ + ":data.pkl");

  fd_ = fd;  // from here the destructor closes it
  owner.fd = -1;
  file_size_ = static_cast<uint64_t>(st.st_size);
}

uint64_t PthFile::record_size(const std::string& name) const {
  uint64_t n = 0;
  try {
    n = zip_->getRecordSize(name);
  } catch (const c10::Error& e) {
    throw IoError(path_ + ": cannot read zip record " + name + ": " + e.what_without_backtrace(),
                  "the file is corrupt or truncated");
  }
  return n;  // bounded: read_zip_directory checked every entry's declared size
}

std::tuple<at::DataPtr, size_t> PthFile::read_record(const std::string& name) const {
  try {
    return zip_->getRecord(name);
  } catch (const c10::Error& e) {
    throw IoError(path_ + ": cannot read zip record " + name + ": " + e.what_without_backtrace(),
                  "the file is corrupt or truncated; compare its size with the original");
  }
}

PthFile::~PthFile() {
  if (fd_ >= 0) ::close(fd_);
}

const PickleValue& PthFile::at_path(const std::string& path) const {
  const PickleValue* v = root_.get();
  size_t pos = 0;
  while (pos < path.size()) {
    const size_t slash = path.find('/', pos);
    const std::string seg =
        path.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
    pos = slash == std::string::npos ? path.size() : slash + 1;
    const PickleValue* next = nullptr;
    if (v->kind == Kind::kDict || v->kind == Kind::kObject) next = v->get(seg);
    if (next == nullptr && (v->kind == Kind::kList || v->kind == Kind::kTuple) && !seg.empty() &&
        seg.find_first_not_of("0123456789") == std::string::npos) {
      const size_t idx = std::stoul(seg);
      if (idx < v->items.size()) next = v->items[idx].get();
    }
    if (next == nullptr) {
      throw IoError(
          path_ + ": no entry '" + seg + "' in '" + path + "' (found a " + v->kind_name() + ")",
          "list the entries with `ibllm inspect " + path_ + "`");
    }
    v = next;
  }
  return *v;
}

std::vector<PthTensorInfo> PthFile::tensor_infos(const std::string& under) const {
  std::vector<PthTensorInfo> out;
  walk_pickle(
      at_path(under), "",
      [&](const std::string& name, const TensorRef& t) {
        out.push_back(
            {name, t.dtype, t.sizes, t.nbytes(), t.is_parameter, t.storage ? t.storage->key : ""});
      },
      nullptr);
  return out;
}

std::vector<PthValueInfo> PthFile::value_infos(const std::string& under) const {
  std::vector<PthValueInfo> out;
  walk_pickle(at_path(under), "", nullptr, [&](const std::string& name, const PickleValue& v) {
    out.push_back({name, v.kind_name(), v.repr()});
  });
  return out;
}

const PthFile::Record& PthFile::record(const StorageRef& s) const {
  auto it = records_.find(s.key);
  if (it != records_.end()) return it->second;
  Record r;
  const std::string name = "data/" + s.key;
  try {
    r.offset = zip_->getRecordOffset(name);
  } catch (const c10::Error& e) {
    throw IoError(path_ + ": cannot locate record " + name + ": " + e.what_without_backtrace());
  }
  r.stored = stored_records_.count(name) != 0;
  const uint64_t nbytes = static_cast<uint64_t>(s.numel) * at::elementSize(s.dtype);
  if (r.stored && r.offset + nbytes > file_size_) {
    throw IoError(path_ + ": storage '" + s.key + "' (" + std::to_string(nbytes) +
                  " bytes) runs past the end of the file (truncated download?)");
  }
  return records_.emplace(s.key, r).first->second;
}

at::Tensor PthFile::read_span(const StorageRef& s, uint64_t begin, uint64_t length) const {
  auto out = at::empty({static_cast<int64_t>(length)}, at::kByte);
  if (length == 0) return out;
  const Record& r = record(s);
  if (r.stored) {
    pread_exact(fd_, out.data_ptr<uint8_t>(), length, r.offset + begin, path_);
  } else {
    auto [ptr, n] = read_record("data/" + s.key);
    if (begin + length > n) {
      throw IoError(path_ + ": storage '" + s.key + "' holds " + std::to_string(n) +
                    " bytes, fewer than its tensors need");
    }
    std::memcpy(out.data_ptr<uint8_t>(), static_cast<const uint8_t*>(ptr.get()) + begin, length);
  }
  return out;
}

at::Tensor PthFile::storage_tensor(const StorageRef& s, PthLoad mode) const {
  const uint64_t nbytes = static_cast<uint64_t>(s.numel) * at::elementSize(s.dtype);
  std::lock_guard<std::mutex> lock(mu_);
  if (mode == PthLoad::kCopy) return read_span(s, 0, nbytes);
  auto it = mapped_storages_.find(s.key);
  if (it != mapped_storages_.end()) return it->second;
  const Record& r = record(s);
  at::Tensor bytes;
  if (r.stored && nbytes > 0 && (r.offset % 64 == 0 || r.offset % at::elementSize(s.dtype) == 0)) {
    if (!map_) map_ = MappedFile::open(path_);
    std::shared_ptr<MappedFile> keep = map_;
    bytes = at::from_blob(
        map_->data() + r.offset, {static_cast<int64_t>(nbytes)},
        [keep](void*) mutable { keep.reset(); }, at::TensorOptions().dtype(at::kByte));
  } else {
    bytes = read_span(s, 0, nbytes);
  }
  mapped_storages_.emplace(s.key, bytes);
  return bytes;
}

at::Tensor PthFile::load(const TensorRef& ref, PthLoad mode) const {
  if (!ref.storage) return ref.eager;
  const size_t item = at::elementSize(ref.dtype);
  int64_t numel = 1, last = ref.offset;
  for (size_t d = 0; d < ref.sizes.size(); ++d) {
    numel *= ref.sizes[d];
    last += (ref.sizes[d] - 1) * ref.strides[d];
  }
  const auto opts = at::TensorOptions().dtype(ref.dtype);
  if (numel == 0) return at::empty(ref.sizes, opts);
  if (mode == PthLoad::kCopy) {
    // Only the bytes this view spans, re-based to offset 0.
    const uint64_t begin = static_cast<uint64_t>(ref.offset) * item;
    const uint64_t length = static_cast<uint64_t>(last + 1 - ref.offset) * item;
    std::lock_guard<std::mutex> lock(mu_);
    return read_span(*ref.storage, begin, length)
        .view(ref.dtype)
        .as_strided(ref.sizes, ref.strides, 0);
  }
  at::Tensor bytes = storage_tensor(*ref.storage, mode);
  const uint64_t usable = bytes.numel() / item * item;
  return bytes.narrow(0, 0, static_cast<int64_t>(usable))
      .view(ref.dtype)
      .as_strided(ref.sizes, ref.strides, ref.offset);
}

at::Tensor PthFile::tensor(const std::string& name, PthLoad mode) const {
  const PickleValue& v = at_path(name);
  if (v.kind != Kind::kTensor) {
    throw IoError(path_ + ": entry '" + name + "' is a " + v.kind_name() + ", not a tensor");
  }
  return load(*v.tensor, mode);
}

std::map<std::string, at::Tensor> PthFile::tensors(const std::string& under, PthLoad mode) const {
  std::map<std::string, at::Tensor> out;
  std::map<std::string, at::Tensor> copied;  // kCopy: one read per storage, shared by its views
  walk_pickle(
      at_path(under), "",
      [&](const std::string& name, const TensorRef& t) {
        if (mode == PthLoad::kCopy && t.storage) {
          auto it = copied.find(t.storage->key);
          if (it == copied.end())
            it = copied.emplace(t.storage->key, storage_tensor(*t.storage, mode)).first;
          const size_t item = at::elementSize(t.dtype);
          int64_t numel = 1;
          for (auto s : t.sizes) numel *= s;
          out[name] = numel == 0 ? at::empty(t.sizes, at::TensorOptions().dtype(t.dtype))
                                 : it->second.narrow(0, 0, it->second.numel() / item * item)
                                       .view(t.dtype)
                                       .as_strided(t.sizes, t.strides, t.offset);
        } else {
          out[name] = load(t, mode);
        }
      },
      nullptr);
  return out;
}

std::map<std::string, at::Tensor> read_pth(const std::string& path, const std::string& under) {
  return PthFile(path).tensors(under);
}

}  // namespace ibllm::io
