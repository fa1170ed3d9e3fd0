// Multimodal answering with a built ImageBind-LLM (spec §3.1, §5): each request's inputs are
// decoded and embedded by their towers, mixed with normalised weights, (optionally) passed
// through the visual cache, bound into per-layer adapter inputs, and the prompt (wrapped in the
// reference template unless raw) is decoded with the batched KV-cache generator. Requests are
// processed in batches of requests that share their sampling options; a request without inputs
// gets no injection. A bad request (missing file, unknown modality) yields an error result, not a
// crash.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "models/llama/config.h"
#include "trainers/model_builder.h"
#include "trainers/modality_inputs.h"

namespace ibllm::data {
class ClipTokenizer;
class LlamaTokenizer;
}  // namespace ibllm::data

namespace ibllm::train {

struct GenerateRequest {
  std::string id;
  std::string prompt;
  bool raw = false;  // true: the prompt is used verbatim (no Alpaca template)
  // (modality, file path or text) in the order given; a name core::find_modality knows ("image" = vision).
  std::vector<std::pair<std::string, std::string>> inputs;
  std::map<std::string, double> weights;  // per modality; default 1
  models::GenerationConfig sampling;
};

struct GenerateResult {
  std::string id;
  std::string text;
  std::vector<int64_t> tokens;
  bool stopped_at_eos = false;
  double logprob = 0.0;  // Σ log p of the answer's tokens (models::GenerationResult::logprob)
  std::string error;  // non-empty: the request failed (text/tokens empty)
  double encode_ms = 0.0, decode_ms = 0.0;
  nlohmann::json to_json() const;
};

class Generator {
 public:
  // `cache` (optional) maps mixed unit embeddings (B,D) to cache-mixed ones (spec §4).
  Generator(BuiltModel& model, const RunConfig& cfg,
            std::shared_ptr<const data::LlamaTokenizer> tokenizer,
            std::shared_ptr<const data::ClipTokenizer> bpe = nullptr,
            std::function<at::Tensor(const at::Tensor&)> cache = {});
  // Results in request order; `batch_size` requests per decode batch at most.
  std::vector<GenerateResult> run(const std::vector<GenerateRequest>& requests,
                                  int64_t batch_size = 8);
  // Streams the answer text of single-request batches as it is generated (new text per call).
  void set_stream(std::function<void(const std::string& delta)> stream) { stream_ = std::move(stream); }
  // The mixed conditioning vector (1, D) of one request, or undefined without inputs. Throws.
  at::Tensor condition(const GenerateRequest& r);

 private:
  void run_batch(const std::vector<GenerateRequest>& reqs, const std::vector<size_t>& idx,
                 std::vector<GenerateResult>& out);

  BuiltModel& m_;
  const RunConfig& cfg_;
  std::shared_ptr<const data::LlamaTokenizer> tok_;
  std::shared_ptr<const data::ClipTokenizer> bpe_;
  std::function<at::Tensor(const at::Tensor&)> cache_;
  std::map<std::string, ModalityDecoder> decoders_;
  std::function<void(const std::string&)> stream_;
};

// One request from a JSON object: {"id", "prompt", "raw", "image"|"video"|"audio"|"point"|"depth"|
// "thermal"|"imu"|"text": path or [paths], "weights": {modality: w}, "temperature", "top_p",
// "max_new_tokens", "seed"}; unknown keys and wrong types throw DataError naming the key.
GenerateRequest parse_request(const nlohmann::json& j, const models::GenerationConfig& defaults);

}  // namespace ibllm::train
