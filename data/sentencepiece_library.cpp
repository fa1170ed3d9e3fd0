// dlopen()s the SentencePiece plugin once per process with RTLD_LOCAL | RTLD_DEEPBIND so its
// bundled protobuf never meets libtorch's, and wraps the C API in SentencePieceModel.
#include "data/sentencepiece_library.h"

#include <dlfcn.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>

#include "src/core/error.h"

namespace ibllm::data {

struct SentencePieceModel::Api {
  void* (*load)(const char*, char**);
  void (*destroy)(void*);
  void (*free_)(void*);
  long (*encode)(void*, const char*, long, int**, char**);
  char* (*decode)(void*, const int*, long, long*, char**);
  int (*id)(void*, int);
  char* (*id_to_piece)(void*, int);
};

namespace {

// The sanitizer runtimes (ASan, TSan) refuse RTLD_DEEPBIND (it would bypass their interceptors); a
// sanitizer build loads the plugin RTLD_LOCAL only, which is safe with the pip wheel's LibTorch (it
// does not export protobuf symbols; Debian's 1.13 did, hence DEEPBIND). GCC defines
// __SANITIZE_*__; clang (the fuzz build, tests/fuzz/) answers only through __has_feature.
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define IBLLM_PLUGIN_UNDER_SANITIZER 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || defined(IBLLM_PLUGIN_UNDER_SANITIZER)
constexpr int kPluginFlags = RTLD_NOW | RTLD_LOCAL;
#else
constexpr int kPluginFlags = RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND;
#endif

std::vector<std::string> candidates() {
  std::vector<std::string> c;
  if (const char* env = std::getenv("IBLLM_SENTENCEPIECE_PLUGIN"); env && *env) c.push_back(env);
#ifdef IBLLM_SENTENCEPIECE_PLUGIN
  c.push_back(IBLLM_SENTENCEPIECE_PLUGIN);
#endif
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) c.push_back((exe.parent_path() / "libibllm_sentencepiece.so").string());
  return c;
}

struct Loaded {
  SentencePieceModel::Api api{};
  std::string path;
  std::string error;
};

template <class F>
void bind(void* lib, const char* name, F& fn, std::string& err) {
  void* sym = dlsym(lib, name);
  if (!sym) err += std::string(" missing symbol ") + name + ";";
  fn = reinterpret_cast<F>(sym);
}

const Loaded& loaded() {
  static Loaded l;
  static std::once_flag once;
  std::call_once(once, [] {
    std::string tried;
    for (const auto& path : candidates()) {
      if (!std::filesystem::exists(path)) {
        tried += "\n  " + path + " (not found)";
        continue;
      }
      void* lib = dlopen(path.c_str(), kPluginFlags);
      if (!lib) {
        tried += "\n  " + path + " (" + dlerror() + ")";
        continue;
      }
      std::string err;
      bind(lib, "ibllm_spm_load", l.api.load, err);
      bind(lib, "ibllm_spm_destroy", l.api.destroy, err);
      bind(lib, "ibllm_spm_free", l.api.free_, err);
      bind(lib, "ibllm_spm_encode", l.api.encode, err);
      bind(lib, "ibllm_spm_decode", l.api.decode, err);
      bind(lib, "ibllm_spm_id", l.api.id, err);
      bind(lib, "ibllm_spm_id_to_piece", l.api.id_to_piece, err);
      if (!err.empty()) {
        tried += "\n  " + path + " (" + err + ")";
        continue;
      }
      l.path = path;
      return;
    }
    l.error = "SentencePiece plugin libibllm_sentencepiece.so not usable; tried:" + tried;
  });
  return l;
}

std::string take(const SentencePieceModel::Api& api, char* s) {
  std::string out = s ? s : "unknown error";
  if (s) api.free_(s);
  return out;
}

}  // namespace

std::string sentencepiece_plugin_path() {
  const auto& l = loaded();
  if (!l.error.empty())
    throw DataError(l.error, "build the ibllm_sentencepiece target, or set IBLLM_SENTENCEPIECE_PLUGIN");
  return l.path;
}

std::string sentencepiece_plugin_status() {
  const auto& l = loaded();
  return l.error.empty() ? l.path : "unavailable: " + l.error;
}

SentencePieceModel::SentencePieceModel(const std::string& model_path) : path_(model_path) {
  sentencepiece_plugin_path();  // throws with the search list if the plugin is unavailable
  api_ = &loaded().api;
  if (!std::filesystem::is_regular_file(model_path))
    throw DataError("tokenizer model '" + model_path + "' does not exist",
                    "set the tokenizer path to the LLaMA tokenizer.model file");
  char* err = nullptr;
  handle_ = api_->load(model_path.c_str(), &err);
  if (!handle_)
    throw DataError("cannot load SentencePiece model '" + model_path + "': " + take(*api_, err),
                    "the file must be a SentencePiece .model (e.g. LLaMA's tokenizer.model)");
  vocab_size_ = api_->id(handle_, 0);
  bos_ = api_->id(handle_, 1);
  eos_ = api_->id(handle_, 2);
  pad_ = api_->id(handle_, 3);
  unk_ = api_->id(handle_, 4);
}

SentencePieceModel::~SentencePieceModel() {
  if (handle_) api_->destroy(handle_);
}

std::vector<int> SentencePieceModel::encode(const std::string& text) const {
  int* ids = nullptr;
  char* err = nullptr;
  long n = api_->encode(handle_, text.data(), static_cast<long>(text.size()), &ids, &err);
  if (n < 0) throw DataError("SentencePiece encode failed (" + path_ + "): " + take(*api_, err));
  std::vector<int> out(ids, ids + n);
  api_->free_(ids);
  return out;
}

std::string SentencePieceModel::decode(const std::vector<int>& ids) const {
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] < 0 || ids[i] >= vocab_size_)
      throw DataError("cannot decode id " + std::to_string(ids[i]) + " at position " +
                      std::to_string(i) + ": outside the vocabulary [0, " +
                      std::to_string(vocab_size_) + ") of " + path_);
  long len = 0;
  char* err = nullptr;
  char* s = api_->decode(handle_, ids.data(), static_cast<long>(ids.size()), &len, &err);
  if (!s) throw DataError("SentencePiece decode failed (" + path_ + "): " + take(*api_, err));
  std::string out(s, static_cast<size_t>(len));
  api_->free_(s);
  return out;
}

std::string SentencePieceModel::id_to_piece(int id) const {
  char* s = api_->id_to_piece(handle_, id);
  if (!s) throw DataError("piece id " + std::to_string(id) + " out of range for " + path_);
  std::string out(s);
  api_->free_(s);
  return out;
}

}  // namespace ibllm::data
