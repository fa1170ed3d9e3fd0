// parse_data_config: YAML keys are the field names; consistency checks collected via fail().
#include "data/data_config.h"

#include "src/config/section.h"

namespace ibllm::data {

namespace {

SourceConfig parse_source(config::Section s) {
  SourceConfig c;
  s.choice<SourceKind>("kind", c.kind,
                       {{"caption_tsv", SourceKind::kCaptionTsv},
                        {"llava", SourceKind::kLlava},
                        {"alpaca", SourceKind::kAlpaca},
                        {"jsonl", SourceKind::kJsonl}});
  s.field("path", c.path);
  s.field("image_root", c.image_root);
  s.field("weight", c.weight, config::positive());
  s.field("features", c.features);
  if (c.path.empty()) s.fail("path", "every data source needs a path");
  return c;
}

}  // namespace

DataConfig parse_data_config(config::Section s) {
  DataConfig c;
  for (auto& src : s.children("sources")) c.sources.push_back(parse_source(src));
  for (auto& src : s.children("val_sources")) c.val_sources.push_back(parse_source(src));
  s.field("tokenizer", c.tokenizer);
  s.field("max_words", c.max_words, config::between(2, 1 << 20));
  s.choice<MaskMode>("mask", c.mask,
                     {{"reference", MaskMode::kReference}, {"exact", MaskMode::kExact}});
  s.field("ignore_index", c.ignore_index);
  s.choice<TextOnlyMode>(
      "text_only", c.text_only,
      {{"reference", TextOnlyMode::kReference}, {"no_visual", TextOnlyMode::kNoVisual}});
  s.choice<LlavaTurns>("llava_turns", c.llava_turns,
                       {{"first", LlavaTurns::kFirst}, {"all", LlavaTurns::kAll}});
  s.choice<PaddingMode>("padding", c.padding,
                        {{"fixed", PaddingMode::kFixed}, {"dynamic", PaddingMode::kDynamic}});
  s.field("max_text_bytes", c.max_text_bytes, config::at_least(16));
  s.field("augment", c.augment);
  c.image = parse_image_transform_config(s.child("image"));
  s.field("batch_size", c.batch_size, config::at_least(1));
  s.field("shuffle", c.shuffle);
  s.field("split_epoch", c.split_epoch, config::at_least(1));
  s.choice<LastBatch>(
      "last_batch", c.last_batch,
      {{"drop", LastBatch::kDrop}, {"pad", LastBatch::kPad}, {"partial", LastBatch::kPartial}});
  s.field("num_workers", c.num_workers, config::between(0, 256));
  s.field("prefetch_batches", c.prefetch_batches, config::between(1, 1024));
  s.field("opencv_threads", c.opencv_threads, config::between(0, 256));
  s.field("worker_intra_op_threads", c.worker_intra_op_threads, config::between(1, 256));
  s.field("pin_memory", c.pin_memory);
  s.choice<MalformedPolicy>("on_malformed", c.on_malformed,
                            {{"error", MalformedPolicy::kError}, {"skip", MalformedPolicy::kSkip}});
  s.field("max_skip_fraction", c.max_skip_fraction, config::unit_interval());
  s.field("skip_grace", c.skip_grace, config::at_least(0));
  s.field("log_skips", c.log_skips, config::at_least(0));

  if (c.sources.empty())
    s.fail("sources", "no data sources: list at least one under data.sources (kind, path)");
  if (c.tokenizer.empty()) s.fail("tokenizer", "set the LLaMA tokenizer.model path");
  if (c.mask == MaskMode::kReference && c.llava_turns == LlavaTurns::kAll)
    s.fail("llava_turns",
           "multi-turn (all) supervises several answers and needs mask: exact; the reference "
           "masking only knows one prompt/answer boundary");
  if (c.mask == MaskMode::kExact && c.ignore_index >= 0)
    s.fail("ignore_index",
           "exact mode needs a negative ignore value (a real token id would be "
           "ignored); the reference's 0 is what mask: reference does");
  if (c.split_epoch > 1 && c.last_batch == LastBatch::kPartial)
    s.fail("last_batch",
           "split_epoch > 1 is the reference sub-epoch sampler, which pads "
           "(use last_batch: pad or drop)");
  return c;
}

}  // namespace ibllm::data
