// LlamaTokenizer: BOS/EOS policy and id-range checks over the raw SentencePiece processor.
#include "data/tokenizer.h"

#include "data/sentencepiece_library.h"
#include "src/core/error.h"

namespace ibllm::data {

LlamaTokenizer::LlamaTokenizer(const std::string& model_path)
    : sp_(std::make_unique<SentencePieceModel>(model_path)) {
  if (sp_->bos_id() < 0 || sp_->eos_id() < 0)
    throw DataError("tokenizer " + model_path + " defines no BOS/EOS piece",
                    "use the LLaMA tokenizer.model (bos 1, eos 2)");
}

LlamaTokenizer::~LlamaTokenizer() = default;
LlamaTokenizer::LlamaTokenizer(LlamaTokenizer&&) noexcept = default;
LlamaTokenizer& LlamaTokenizer::operator=(LlamaTokenizer&&) noexcept = default;

std::vector<int64_t> LlamaTokenizer::encode(const std::string& text, bool bos, bool eos) const {
  auto raw = sp_->encode(text);
  std::vector<int64_t> ids;
  ids.reserve(raw.size() + 2);
  if (bos) ids.push_back(sp_->bos_id());
  ids.insert(ids.end(), raw.begin(), raw.end());
  if (eos) ids.push_back(sp_->eos_id());
  return ids;
}

std::string LlamaTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::vector<int> raw;
  raw.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab_size())
      throw DataError("cannot decode id " + std::to_string(ids[i]) + " at index " +
                          std::to_string(i) + ": outside [0, " + std::to_string(vocab_size()) +
                          ") of " + path(),
                      "cut padding (-1) and generated ids at EOS before decoding");
    raw.push_back(static_cast<int>(ids[i]));
  }
  return sp_->decode(raw);
}

int64_t LlamaTokenizer::vocab_size() const { return sp_->vocab_size(); }
int64_t LlamaTokenizer::bos_id() const { return sp_->bos_id(); }
int64_t LlamaTokenizer::eos_id() const { return sp_->eos_id(); }
int64_t LlamaTokenizer::pad_id() const { return sp_->pad_id(); }
int64_t LlamaTokenizer::unk_id() const { return sp_->unk_id(); }
std::string LlamaTokenizer::piece(int64_t id) const {
  if (id < 0 || id >= vocab_size())
    throw DataError("piece id " + std::to_string(id) + " outside the vocabulary of " + path());
  return sp_->id_to_piece(static_cast<int>(id));
}
const std::string& LlamaTokenizer::path() const { return sp_->path(); }

}  // namespace ibllm::data
