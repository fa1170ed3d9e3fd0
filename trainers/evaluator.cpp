// Evaluation loop; see evaluator.h.
#include "trainers/evaluator.h"

#include <cmath>


#include "data/dataset.h"
#include "data/loader.h"
#include "data/tokenizer.h"
#include "src/core/error.h"
#include "src/core/kill_point.h"
#include "src/distributed/communicator.h"
#include "trainers/train_step.h"

namespace ibllm::train {

nlohmann::json EvalResult::to_json() const {
  return {{"loss", loss}, {"ppl", ppl}, {"tokens", tokens}, {"samples", samples},
          {"batches", batches}, {"skipped", skipped}};
}

EvalResult evaluate(models::ImageBindLlmImpl& model, const RunConfig& c,
                    std::shared_ptr<const data::LlamaTokenizer> tokenizer,
                    const std::string& split, int64_t max_batches, dist::Communicator* comm) {
  data::DataConfig dc = c.data;
  if (split == "val") {
    if (dc.val_sources.empty())
      throw ConfigError("no validation data: data.val_sources is empty",
                        "add data.val_sources (same format as data.sources) or use --split train");
    dc.sources = dc.val_sources;
  } else if (split != "train") {
    throw UsageError("unknown split '" + split + "' (use val or train)");
  }
  dc.shuffle = false;
  dc.augment = false;
  dc.split_epoch = 1;
  dc.last_batch = data::LastBatch::kPartial;
  auto dataset = std::make_shared<const data::Dataset>(dc, static_cast<uint64_t>(c.run.seed));
  data::LoaderOptions lo;
  lo.seed = static_cast<uint64_t>(c.run.seed);
  lo.train = false;
  lo.device_is_cuda = model.device().is_cuda();
  if (comm) {
    lo.world_size = comm->world_size();
    lo.rank = comm->rank();
  }
  data::DataLoader loader(dc, dataset, tokenizer, lo);
  loader.start_epoch(0, 0);
  const bool was_training = model.is_training();
  model.eval();
  double sum = 0.0;
  EvalResult r;
  while (auto b = loader.next()) {
    auto [s, n] = TrainStep::eval_batch(model, *b);
    sum += s;
    r.tokens += n;
    r.samples += b->size();
    ++r.batches;
    core::kill_point("eval.batch");  // test seam (IBLLM_TEST_KILL_AT)
    if (max_batches > 0 && r.batches >= max_batches) break;
  }
  model.train(was_training);
  r.skipped = loader.stats().skipped;
  if (comm && comm->world_size() > 1) {
    auto v = comm->sum({sum, static_cast<double>(r.tokens), static_cast<double>(r.samples),
                        static_cast<double>(r.batches), static_cast<double>(r.skipped)});
    sum = v[0];
    r.tokens = static_cast<int64_t>(v[1]);
    r.samples = static_cast<int64_t>(v[2]);
    r.batches = static_cast<int64_t>(v[3]);
    r.skipped = static_cast<int64_t>(v[4]);
  }
  r.loss = r.tokens > 0 ? sum / static_cast<double>(r.tokens) : 0.0;
  r.ppl = std::exp(r.loss);
  return r;
}

}  // namespace ibllm::train
