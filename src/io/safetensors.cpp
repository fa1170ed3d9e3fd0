// safetensors reader (mmap, strict validation) and writers (whole map, streaming, sharded).
// Validation mirrors the format rules: header length <= 100 MB and inside the file, a JSON object,
// known dtypes, shape x itemsize == byte range, ranges inside the buffer, sorted ranges contiguous
// (no overlap, no gap, full coverage). Every message starts with the file and names the tensor.
#include "src/io/safetensors.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "src/core/error.h"
#include "src/core/kill_point.h"
#include "src/io/mapped_file.h"

namespace ibllm::io {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr uint64_t kMaxHeaderLength = 100'000'000;  // the format's 100 MB limit
constexpr const char* kFormatHint =
    "the file is not a valid safetensors file (truncated download or a different format?)";

struct DtypeName {
  const char* name;
  at::ScalarType type;
};
constexpr DtypeName kDtypes[] = {
    {"F64", at::kDouble}, {"F32", at::kFloat}, {"F16", at::kHalf},  {"BF16", at::kBFloat16},
    {"I64", at::kLong},   {"I32", at::kInt},   {"I16", at::kShort}, {"I8", at::kChar},
    {"U8", at::kByte},    {"BOOL", at::kBool},
};
// Valid safetensors dtypes with no LibTorch 1.13 equivalent: named in the error.
constexpr const char* kUnsupported[] = {"U16", "U32", "U64", "F8_E4M3", "F8_E5M2", "C64"};

bool host_is_little_endian() {
  const uint16_t one = 1;
  uint8_t b = 0;
  std::memcpy(&b, &one, 1);
  return b == 1;
}

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << "]";
  return os.str();
}

// numel * itemsize with overflow detection; returns false on overflow.
bool byte_count(const std::vector<int64_t>& shape, size_t itemsize, uint64_t& out) {
  uint64_t n = itemsize;
  for (int64_t d : shape) {
    const auto u = static_cast<uint64_t>(d);
    if (u != 0 && n > std::numeric_limits<uint64_t>::max() / u) return false;
    n *= u;
  }
  out = n;
  return true;
}

[[noreturn]] void fail(const std::string& path, const std::string& msg,
                       const std::string& hint = kFormatHint) {
  throw IoError(path + ": " + msg, hint);
}

SafetensorsEntry parse_entry(const std::string& path, const std::string& name, const json& j) {
  const std::string where = "tensor '" + name + "'";
  if (!j.is_object()) fail(path, where + ": header entry is not a JSON object");
  SafetensorsEntry e;
  e.name = name;
  auto dt = j.find("dtype");
  if (dt == j.end() || !dt->is_string()) fail(path, where + ": missing string field 'dtype'");
  try {
    e.dtype = safetensors_dtype(dt->get<std::string>());
  } catch (const IoError& err) {
    fail(path, where + ": " + err.what(), err.hint());
  }
  auto sh = j.find("shape");
  if (sh == j.end() || !sh->is_array()) fail(path, where + ": missing array field 'shape'");
  for (const auto& d : *sh) {
    if (!d.is_number_unsigned() && !(d.is_number_integer() && d.get<int64_t>() >= 0)) {
      fail(path, where + ": shape " + sh->dump() + " must hold non-negative integers");
    }
    const auto v = d.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      fail(path, where + ": shape " + sh->dump() + " has an out-of-range dimension");
    }
    e.shape.push_back(static_cast<int64_t>(v));
  }
  auto off = j.find("data_offsets");
  if (off == j.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
      !(*off)[1].is_number_unsigned()) {
    fail(path, where + ": 'data_offsets' must be [begin, end] with non-negative integers");
  }
  e.begin = (*off)[0].get<uint64_t>();
  e.end = (*off)[1].get<uint64_t>();
  if (e.end < e.begin) {
    fail(path, where + ": data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                   "] end before begin");
  }
  uint64_t expected = 0;
  if (!byte_count(e.shape, at::elementSize(e.dtype), expected) || expected != e.end - e.begin) {
    fail(path, where + ": shape " + shape_str(e.shape) + " x " + dt->get<std::string>() +
                   " needs " + std::to_string(expected) + " bytes but data_offsets span " +
                   std::to_string(e.end - e.begin));
  }
  return e;
}

at::Tensor alias_or_copy(const std::shared_ptr<MappedFile>& file, const uint8_t* ptr,
                         const SafetensorsEntry& e) {
  const auto opts = at::TensorOptions().dtype(e.dtype);
  if (e.nbytes() == 0) return at::empty(e.shape, opts);
  const size_t item = at::elementSize(e.dtype);
  auto* p = const_cast<uint8_t*>(ptr);
  if (reinterpret_cast<uintptr_t>(p) % item != 0) {
    // Files from other writers may store a tensor misaligned for its type: copy that one.
    auto out = at::empty(e.shape, opts);
    std::memcpy(out.data_ptr(), p, e.nbytes());
    return out;
  }
  std::shared_ptr<MappedFile> keep = file;
  return at::from_blob(
      p, e.shape, [keep](void*) mutable { keep.reset(); }, opts);
}

at::Tensor contiguous_cpu(const at::Tensor& t) { return t.detach().to(at::kCPU).contiguous(); }

void check_writable(const std::string& path, const std::string& name, const at::Tensor& t) {
  if (!t.defined()) fail(path, "tensor '" + name + "' is undefined", "");
  if (t.layout() != at::kStrided) {
    fail(path, "tensor '" + name + "' is sparse; safetensors stores dense tensors only",
         "call to_dense() first");
  }
  if (t.is_quantized()) {
    fail(path, "tensor '" + name + "' is quantized; safetensors has no quantized dtypes",
         "dequantize it first");
  }
}

bool spec_order(const SafetensorsWriter::Spec& a, const SafetensorsWriter::Spec& b) {
  const size_t ia = at::elementSize(a.dtype), ib = at::elementSize(b.dtype);
  if (ia != ib) return ia > ib;
  return a.name < b.name;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

at::ScalarType safetensors_dtype(const std::string& name) {
  for (const auto& d : kDtypes) {
    if (name == d.name) return d.type;
  }
  for (const char* u : kUnsupported) {
    if (name == u) {
      throw IoError("dtype " + name + " is valid safetensors but has no LibTorch equivalent here",
                    "convert the tensor to a supported dtype (F64 F32 F16 BF16 I64 I32 I16 I8 U8 "
                    "BOOL) before loading");
    }
  }
  throw IoError("unknown dtype '" + name + "'",
                "known dtypes: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL");
}

std::string safetensors_dtype_name(at::ScalarType dtype) {
  for (const auto& d : kDtypes) {
    if (dtype == d.type) return d.name;
  }
  throw IoError(std::string("dtype ") + c10::toString(dtype) + " cannot be stored in safetensors",
                "convert to one of float64/32/16, bfloat16, int64/32/16/8, uint8, bool");
}

// ------------------------------------------------------------------ SafetensorsFile

SafetensorsFile::SafetensorsFile(const std::string& path) {
  if (!host_is_little_endian()) fail(path, "big-endian hosts are not supported", "");
  file_ = MappedFile::open(path);
  const uint64_t size = file_->size();
  if (size < 8) {
    fail(path, "truncated: " + std::to_string(size) +
                   " bytes, less than the 8-byte header length prefix");
  }
  header_length_ = read_u64_le(file_->data());
  if (header_length_ > kMaxHeaderLength) {
    fail(path, "header length " + std::to_string(header_length_) + " exceeds the 100 MB limit (" +
                   std::to_string(kMaxHeaderLength) + " bytes)");
  }
  if (header_length_ > size - 8) {
    fail(path, "truncated: header length " + std::to_string(header_length_) + " but only " +
                   std::to_string(size - 8) + " bytes follow the prefix");
  }
  buffer_size_ = size - 8 - header_length_;
  const char* hb = reinterpret_cast<const char*>(file_->data() + 8);
  if (header_length_ == 0 || hb[0] != '{') fail(path, "header does not start with '{'");
  json header;
  try {
    header = json::parse(hb, hb + header_length_);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number overflow
    fail(path, std::string("header is not well-formed JSON: ") + e.what());
  }
  if (!header.is_object()) fail(path, "header is not a JSON object");

  std::vector<const SafetensorsEntry*> by_offset;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) fail(path, "__metadata__ must be an object of strings");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) fail(path, "__metadata__ entry '" + m.key() + "' is not a string");
        metadata_[m.key()] = m->get<std::string>();
      }
      continue;
    }
    auto e = parse_entry(path, it.key(), *it);
    if (e.end > buffer_size_) {
      fail(path, "tensor '" + e.name + "': data_offsets [" + std::to_string(e.begin) + ", " +
                     std::to_string(e.end) + "] run past the end of the " +
                     std::to_string(buffer_size_) + "-byte data buffer (truncated file?)");
    }
    entries_.emplace(e.name, std::move(e));
  }
  for (const auto& [name, e] : entries_) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t cursor = 0;
  const SafetensorsEntry* prev = nullptr;
  for (const auto* e : by_offset) {
    if (e->begin < cursor) {
      fail(path, "tensor '" + e->name + "' [" + std::to_string(e->begin) + ", " +
                     std::to_string(e->end) + ") overlaps tensor '" + prev->name + "' [" +
                     std::to_string(prev->begin) + ", " + std::to_string(prev->end) + ")");
    }
    if (e->begin > cursor) {
      fail(path, "gap in the data buffer: bytes [" + std::to_string(cursor) + ", " +
                     std::to_string(e->begin) + ") before tensor '" + e->name +
                     "' belong to no tensor");
    }
    cursor = e->end;
    prev = e;
  }
  if (cursor != buffer_size_) {
    fail(path, "data buffer has " + std::to_string(buffer_size_ - cursor) +
                   " trailing bytes not covered by any tensor (last tensor '" +
                   (prev ? prev->name : std::string("<none>")) + "' ends at " +
                   std::to_string(cursor) + ")");
  }
}

const std::string& SafetensorsFile::path() const { return file_->path(); }

const uint8_t* SafetensorsFile::buffer() const { return file_->data() + 8 + header_length_; }

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& [name, e] : entries_) out.push_back(name);
  return out;
}

const SafetensorsEntry& SafetensorsFile::entry(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    fail(path(), "no tensor named '" + name + "'", "list the tensors with `ibllm inspect`");
  }
  return it->second;
}

at::Tensor SafetensorsFile::tensor(const std::string& name) const {
  const auto& e = entry(name);
  return alias_or_copy(file_, buffer() + e.begin, e);
}

at::Tensor SafetensorsFile::tensor_copy(const std::string& name) const {
  const auto& e = entry(name);
  auto out = at::empty(e.shape, at::TensorOptions().dtype(e.dtype));
  if (e.nbytes() == 0) return out;
  const int fd = ::open(path().c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path(), std::string("cannot reopen: ") + std::strerror(errno), "");
  auto* dst = static_cast<uint8_t*>(out.data_ptr());
  uint64_t done = 0, offset = 8 + header_length_ + e.begin;
  while (done < e.nbytes()) {
    const ssize_t r = ::pread(fd, dst + done, e.nbytes() - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      const int err = errno;
      ::close(fd);
      fail(path(),
           "read of tensor '" + name +
               "' failed: " + (r == 0 ? "unexpected end of file" : std::strerror(err)),
           "");
    }
    done += static_cast<uint64_t>(r);
  }
  ::close(fd);
  return out;
}

std::map<std::string, at::Tensor> SafetensorsFile::tensors() const {
  std::map<std::string, at::Tensor> out;
  for (const auto& [name, e] : entries_)
    out.emplace(name, alias_or_copy(file_, buffer() + e.begin, e));
  return out;
}

// ------------------------------------------------------------------ ShardedSafetensors

ShardedSafetensors::ShardedSafetensors(const std::string& index_path) : index_path_(index_path) {
  std::ifstream in(index_path);
  if (!in) throw IoError(index_path + ": cannot open sharded-checkpoint index");
  json index;
  try {
    index = json::parse(in);
  } catch (const json::exception& e) {
    throw IoError(index_path + ": index is not well-formed JSON: " + e.what());
  }
  auto wm = index.find("weight_map");
  if (!index.is_object() || wm == index.end() || !wm->is_object()) {
    throw IoError(index_path + ": index has no \"weight_map\" object",
                  "expected {\"metadata\": {...}, \"weight_map\": {tensor: shard file}}");
  }
  if (auto md = index.find("metadata"); md != index.end() && md->is_object()) {
    for (auto m = md->begin(); m != md->end(); ++m) {
      metadata_[m.key()] = m->is_string() ? m->get<std::string>() : m->dump();
    }
  }
  const fs::path dir = fs::path(index_path).parent_path();
  std::map<std::string, size_t> shard_index;
  std::map<std::string, std::string> listed;  // tensor -> shard file name
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    if (!it->is_string())
      throw IoError(index_path + ": weight_map['" + it.key() + "'] is not a string");
    const std::string shard = it->get<std::string>();
    if (!shard_index.count(shard)) {
      shard_index[shard] = shard_paths_.size();
      shard_paths_.push_back((dir / shard).string());
      shards_.push_back(std::make_unique<SafetensorsFile>(shard_paths_.back()));
    }
    listed[it.key()] = shard;
    shard_of_[it.key()] = shard_index[shard];
  }
  for (const auto& [name, shard] : listed) {
    if (!shards_[shard_of_[name]]->contains(name)) {
      throw IoError(index_path + ": tensor '" + name + "' is listed in shard " + shard +
                    " but that file does not contain it");
    }
  }
  for (size_t s = 0; s < shards_.size(); ++s) {
    for (const auto& name : shards_[s]->names()) {
      auto it = shard_of_.find(name);
      if (it == shard_of_.end() || it->second != s) {
        throw IoError(shard_paths_[s] + ": tensor '" + name + "' is not listed for this shard in " +
                      index_path);
      }
    }
  }
}

std::vector<std::string> ShardedSafetensors::names() const {
  std::vector<std::string> out;
  for (const auto& [name, s] : shard_of_) out.push_back(name);
  return out;
}

const SafetensorsEntry& ShardedSafetensors::entry(const std::string& name) const {
  auto it = shard_of_.find(name);
  if (it == shard_of_.end()) throw IoError(index_path_ + ": no tensor named '" + name + "'");
  return shards_[it->second]->entry(name);
}

at::Tensor ShardedSafetensors::tensor(const std::string& name) const {
  auto it = shard_of_.find(name);
  if (it == shard_of_.end()) throw IoError(index_path_ + ": no tensor named '" + name + "'");
  return shards_[it->second]->tensor(name);
}

at::Tensor ShardedSafetensors::tensor_copy(const std::string& name) const {
  auto it = shard_of_.find(name);
  if (it == shard_of_.end()) throw IoError(index_path_ + ": no tensor named '" + name + "'");
  return shards_[it->second]->tensor_copy(name);
}

std::map<std::string, at::Tensor> ShardedSafetensors::tensors() const {
  std::map<std::string, at::Tensor> out;
  for (const auto& [name, s] : shard_of_) out.emplace(name, shards_[s]->tensor(name));
  return out;
}

// ------------------------------------------------------------------ reading entry point

std::map<std::string, at::Tensor> read_safetensors(const std::string& path) {
  if (fs::is_directory(path)) {
    const fs::path d(path);
    if (fs::exists(d / "model.safetensors.index.json")) {
      return ShardedSafetensors((d / "model.safetensors.index.json").string()).tensors();
    }
    if (fs::exists(d / "model.safetensors")) {
      return SafetensorsFile((d / "model.safetensors").string()).tensors();
    }
    throw IoError(path +
                  ": directory holds neither model.safetensors nor "
                  "model.safetensors.index.json");
  }
  if (ends_with(path, ".json")) return ShardedSafetensors(path).tensors();
  return SafetensorsFile(path).tensors();
}

// ------------------------------------------------------------------ SafetensorsWriter

SafetensorsWriter::SafetensorsWriter(const std::string& path, std::vector<Spec> specs,
                                     const std::map<std::string, std::string>& metadata)
    : path_(path), tmp_path_(path + ".tmp"), specs_(std::move(specs)) {
  std::sort(specs_.begin(), specs_.end(), spec_order);
  json header = json::object();
  if (!metadata.empty()) {
    json md = json::object();
    for (const auto& [k, v] : metadata) md[k] = v;
    header["__metadata__"] = md;
  }
  uint64_t offset = 0;
  std::set<std::string> seen;
  for (const auto& s : specs_) {
    if (s.name == "__metadata__") fail(path, "a tensor cannot be named '__metadata__'", "");
    if (!seen.insert(s.name).second) fail(path, "tensor '" + s.name + "' declared twice", "");
    const std::string dt = safetensors_dtype_name(s.dtype);
    uint64_t n = 0;
    if (!byte_count(s.shape, at::elementSize(s.dtype), n)) {
      fail(path, "tensor '" + s.name + "': shape " + shape_str(s.shape) + " is too large", "");
    }
    header[s.name] = {{"dtype", dt}, {"shape", s.shape}, {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // pad so the buffer (and every tensor) is aligned
  FILE* f = std::fopen(tmp_path_.c_str(), "wb");
  if (f == nullptr) {
    const int err = errno;
    throw IoError(tmp_path_ + ": cannot create: " + std::strerror(err),
                  "check that the directory exists and is writable", err);
  }
  fp_ = f;
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>((h.size() >> (8 * i)) & 0xff);
  if (std::fwrite(len, 1, 8, f) != 8 || std::fwrite(h.data(), 1, h.size(), f) != h.size()) {
    const int err = errno;
    std::fclose(f);  // the destructor does not run for a constructor that throws
    fp_ = nullptr;
    std::remove(tmp_path_.c_str());
    throw IoError(tmp_path_ + ": write failed: " + std::strerror(err), "is the disk full?", err);
  }
  written_ = 8 + h.size();
}

SafetensorsWriter::~SafetensorsWriter() {
  if (fp_ != nullptr) std::fclose(static_cast<FILE*>(fp_));
  if (!finished_) std::remove(tmp_path_.c_str());
}

void SafetensorsWriter::write(const std::string& name, const at::Tensor& tensor) {
  if (next_ >= specs_.size()) {
    fail(path_, "tensor '" + name + "' written after all declared tensors", "");
  }
  const Spec& s = specs_[next_];
  if (name != s.name) {
    fail(path_, "tensor '" + name + "' written out of order; expected '" + s.name + "'",
         "write tensors in SafetensorsWriter::order()");
  }
  check_writable(path_, name, tensor);
  if (tensor.scalar_type() != s.dtype || tensor.sizes().vec() != s.shape) {
    fail(path_,
         "tensor '" + name + "' is " + c10::toString(tensor.scalar_type()) + " " +
             shape_str(tensor.sizes().vec()) + " but was declared " + c10::toString(s.dtype) + " " +
             shape_str(s.shape),
         "");
  }
  const at::Tensor t = contiguous_cpu(tensor);
  const size_t n = t.numel() * t.element_size();
  if (n > 0 && std::fwrite(t.data_ptr(), 1, n, static_cast<FILE*>(fp_)) != n) {
    const int err = errno;
    throw IoError(tmp_path_ + ": write failed for tensor '" + name + "': " + std::strerror(err),
                  "is the disk full?", err);
  }
  written_ += n;
  ++next_;
  core::kill_point("safetensors.tensor");  // test seam: a file killed half-written
}

void SafetensorsWriter::finish() {
  if (next_ != specs_.size()) {
    fail(path_,
         std::to_string(specs_.size() - next_) + " declared tensors were never written (next: '" +
             specs_[next_].name + "')",
         "");
  }
  FILE* f = static_cast<FILE*>(fp_);
  fp_ = nullptr;
  if (std::fflush(f) != 0 || ::fsync(fileno(f)) != 0) {
    int e = errno;
    std::fclose(f);
    throw IoError(tmp_path_ + ": flush failed: " + std::strerror(e), "", e);
  }
  if (std::fclose(f) != 0) {
    const int e = errno;
    throw IoError(tmp_path_ + ": close failed: " + std::strerror(e), "", e);
  }
  if (std::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    const int e = errno;
    throw IoError(path_ + ": cannot rename from " + tmp_path_ + ": " + std::strerror(e), "", e);
  }
  finished_ = true;
}

void write_safetensors(const std::string& path, const std::map<std::string, at::Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<SafetensorsWriter::Spec> specs;
  for (const auto& [name, t] : tensors) {
    check_writable(path, name, t);
    specs.push_back({name, t.scalar_type(), t.sizes().vec()});
  }
  SafetensorsWriter w(path, std::move(specs), metadata);
  for (const auto& s : w.order()) w.write(s.name, tensors.at(s.name));
  w.finish();
}

std::string write_safetensors_sharded(const std::string& dir,
                                      const std::map<std::string, at::Tensor>& tensors,
                                      uint64_t max_shard_bytes,
                                      const std::map<std::string, std::string>& metadata,
                                      const std::string& stem) {
  if (max_shard_bytes == 0) throw IoError(dir + ": max_shard_bytes must be positive");
  fs::create_directories(dir);
  std::vector<std::vector<std::string>> groups(1);
  uint64_t in_group = 0, total = 0;
  for (const auto& [name, t] : tensors) {
    const uint64_t n = t.numel() * t.element_size();
    if (!groups.back().empty() && in_group + n > max_shard_bytes) {
      groups.emplace_back();
      in_group = 0;
    }
    groups.back().push_back(name);
    in_group += n;
    total += n;
  }
  json weight_map = json::object();
  char buf[64];
  for (size_t g = 0; g < groups.size(); ++g) {
    std::snprintf(buf, sizeof(buf), "-%05zu-of-%05zu.safetensors", g + 1, groups.size());
    const std::string file = stem + buf;
    std::map<std::string, at::Tensor> part;
    for (const auto& name : groups[g]) {
      part.emplace(name, tensors.at(name));
      weight_map[name] = file;
    }
    write_safetensors((fs::path(dir) / file).string(), part, metadata);
  }
  json md = json::object();
  for (const auto& [k, v] : metadata) md[k] = v;
  md["total_size"] = total;
  const std::string index_path = (fs::path(dir) / (stem + ".safetensors.index.json")).string();
  std::ofstream out(index_path);
  out << json{{"metadata", md}, {"weight_map", weight_map}}.dump(2) << "\n";
  if (!out) throw IoError(index_path + ": write failed");
  return index_path;
}

}  // namespace ibllm::io
