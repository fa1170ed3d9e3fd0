// The LLaMA tokenizer (spec §2.4): SentencePiece ids with optional BOS prepended / EOS appended and
// no other processing (no whitespace or "legacy" rewrites), decode, and the special ids
// (bos 1, eos 2, unk 0, pad -1 = "unset" for the LLaMA model). Built on SentencePieceModel, the
// plugin-backed raw processor; ids are int64 so they go straight into token tensors.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ibllm::data {

class SentencePieceModel;

class LlamaTokenizer {
 public:
  // Throws DataError naming the file when it is missing, unreadable or not a SentencePiece model.
  explicit LlamaTokenizer(const std::string& model_path);
  ~LlamaTokenizer();
  LlamaTokenizer(LlamaTokenizer&&) noexcept;
  LlamaTokenizer& operator=(LlamaTokenizer&&) noexcept;

  std::vector<int64_t> encode(const std::string& text, bool bos, bool eos) const;
  // ids outside [0, vocab_size) throw DataError (negative pad fillers must be cut by the caller).
  std::string decode(const std::vector<int64_t>& ids) const;

  int64_t vocab_size() const;
  int64_t bos_id() const;
  int64_t eos_id() const;
  int64_t pad_id() const;  // -1 when the model defines none (LLaMA)
  int64_t unk_id() const;
  std::string piece(int64_t id) const;
  const std::string& path() const;

 private:
  std::unique_ptr<SentencePieceModel> sp_;
};

}  // namespace ibllm::data
