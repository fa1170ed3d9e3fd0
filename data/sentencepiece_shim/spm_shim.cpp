// The SentencePiece plugin: a C API over sentencepiece::SentencePieceProcessor, built as its own
// shared module so libsentencepiece (which exports a bundled protobuf) is never in the global
// symbol scope of a process that also loads libtorch's libprotobuf. Loaded by
// data/sentencepiece_library.cpp. Strings returned through `out` buffers are malloc'd; the caller
// frees them with ibllm_spm_free. No C++ exception may cross this C boundary (libsentencepiece
// throws from its bundled darts-clone on some malformed models): each entry point catches them
// and reports an error like any other.
#include <sentencepiece_processor.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {
char* dup(const std::string& s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (p) std::memcpy(p, s.c_str(), s.size() + 1);
  return p;
}

void set_error(char** error, const char* what) {
  if (error) *error = dup(std::string("sentencepiece threw: ") + what);
}
}  // namespace

extern "C" {

// Returns a processor handle, or nullptr with *error set (malloc'd) on failure.
void* ibllm_spm_load(const char* path, char** error) {
  try {
    auto sp = std::make_unique<sentencepiece::SentencePieceProcessor>();
    auto st = sp->Load(path);
    if (!st.ok()) {
      if (error) *error = dup(st.ToString());
      return nullptr;
    }
    return sp.release();
  } catch (const std::exception& e) {
    set_error(error, e.what());
  } catch (...) {
    set_error(error, "an unknown exception");
  }
  return nullptr;
}

void ibllm_spm_destroy(void* h) { delete static_cast<sentencepiece::SentencePieceProcessor*>(h); }

void ibllm_spm_free(void* p) { std::free(p); }

// Encodes `text` (len bytes); *ids is malloc'd (caller frees), returns the count or -1 (error set).
long ibllm_spm_encode(void* h, const char* text, long len, int** ids, char** error) try {
  auto* sp = static_cast<sentencepiece::SentencePieceProcessor*>(h);
  std::vector<int> out;
  auto st = sp->Encode(std::string(text, static_cast<size_t>(len)), &out);
  if (!st.ok()) {
    if (error) *error = dup(st.ToString());
    return -1;
  }
  *ids = static_cast<int*>(std::malloc(sizeof(int) * (out.empty() ? 1 : out.size())));
  if (!out.empty()) std::memcpy(*ids, out.data(), sizeof(int) * out.size());
  return static_cast<long>(out.size());
} catch (const std::exception& e) {
  set_error(error, e.what());
  return -1;
} catch (...) {
  set_error(error, "an unknown exception");
  return -1;
}

// Decodes ids; returns a malloc'd UTF-8 string (length in *len), or nullptr with *error set.
char* ibllm_spm_decode(void* h, const int* ids, long n, long* len, char** error) try {
  auto* sp = static_cast<sentencepiece::SentencePieceProcessor*>(h);
  std::string text;
  auto st = sp->Decode(std::vector<int>(ids, ids + n), &text);
  if (!st.ok()) {
    if (error) *error = dup(st.ToString());
    return nullptr;
  }
  *len = static_cast<long>(text.size());
  char* p = static_cast<char*>(std::malloc(text.size() + 1));
  std::memcpy(p, text.data(), text.size());
  p[text.size()] = '\0';
  return p;
} catch (const std::exception& e) {
  set_error(error, e.what());
  return nullptr;
} catch (...) {
  set_error(error, "an unknown exception");
  return nullptr;
}

// Special ids and sizes: which = 0 vocab size, 1 bos, 2 eos, 3 pad, 4 unk.
int ibllm_spm_id(void* h, int which) try {
  auto* sp = static_cast<sentencepiece::SentencePieceProcessor*>(h);
  switch (which) {
    case 0: return sp->GetPieceSize();
    case 1: return sp->bos_id();
    case 2: return sp->eos_id();
    case 3: return sp->pad_id();
    case 4: return sp->unk_id();
    default: return -2;
  }
} catch (...) {
  return -2;
}

// The piece string of an id (malloc'd), or nullptr if out of range.
char* ibllm_spm_id_to_piece(void* h, int id) try {
  auto* sp = static_cast<sentencepiece::SentencePieceProcessor*>(h);
  if (id < 0 || id >= sp->GetPieceSize()) return nullptr;
  return dup(sp->IdToPiece(id));
} catch (...) {
  return nullptr;
}

}  // extern "C"
