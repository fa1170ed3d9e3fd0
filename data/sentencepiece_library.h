// Access to SentencePiece through the ibllm_sentencepiece plugin (see CMakeLists.txt for why it is
// a dlopen'd module). SentencePieceModel is the raw processor: load, encode, decode, special ids.
// The LLaMA tokenizer (BOS/EOS policy, templates) is built on top of it.
// Plugin search order: $IBLLM_SENTENCEPIECE_PLUGIN, the build-tree path compiled in, then
// libibllm_sentencepiece.so next to the running executable.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace ibllm::data {

class SentencePieceModel {
 public:
  // Throws DataError naming the file when it is missing or not a SentencePiece model.
  explicit SentencePieceModel(const std::string& model_path);
  ~SentencePieceModel();
  SentencePieceModel(const SentencePieceModel&) = delete;
  SentencePieceModel& operator=(const SentencePieceModel&) = delete;

  std::vector<int> encode(const std::string& text) const;
  std::string decode(const std::vector<int>& ids) const;  // ids out of range: DataError
  int vocab_size() const { return vocab_size_; }
  int bos_id() const { return bos_; }
  int eos_id() const { return eos_; }
  int pad_id() const { return pad_; }  // -1 when the model defines none (LLaMA)
  int unk_id() const { return unk_; }
  std::string id_to_piece(int id) const;
  const std::string& path() const { return path_; }

  struct Api;  // the plugin's C entry points (defined in the .cpp)

 private:
  const Api* api_;
  void* handle_ = nullptr;
  std::string path_;
  int vocab_size_ = 0, bos_ = -1, eos_ = -1, pad_ = -1, unk_ = -1;
};

// Where the plugin was found; throws DataError listing the paths tried if nowhere.
std::string sentencepiece_plugin_path();
// Non-throwing report for `ibllm info`: the path, or "unavailable: <paths tried>".
std::string sentencepiece_plugin_status();

}  // namespace ibllm::data
