// Validation loss / perplexity over data.val_sources (or the training sources, for `ibllm eval
// --split train`): centre-crop images, no shuffling, partial last batch kept, no gradients.
// The loss is Σ CE / Σ valid tokens over the whole set (not a mean of batch means).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "models/imagebind_llm.h"
#include "trainers/run_config.h"

namespace ibllm::data {
class LlamaTokenizer;
}
namespace ibllm::dist {
class Communicator;
}

namespace ibllm::train {

struct EvalResult {
  double loss = 0.0;
  double ppl = 0.0;
  int64_t tokens = 0;
  int64_t samples = 0;
  int64_t batches = 0;
  int64_t skipped = 0;
  nlohmann::json to_json() const;
};

// split: "val" (data.val_sources) or "train" (data.sources). max_batches 0 = all (per rank).
// With a communicator each rank evaluates its shard and the sums are reduced (collective).
EvalResult evaluate(models::ImageBindLlmImpl& model, const RunConfig& c,
                    std::shared_ptr<const data::LlamaTokenizer> tokenizer,
                    const std::string& split = "val", int64_t max_batches = 0,
                    dist::Communicator* comm = nullptr);

}  // namespace ibllm::train
