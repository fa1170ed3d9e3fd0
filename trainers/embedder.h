// Feature extraction for `ibllm embed`: L2-normalised ImageBind embeddings of one modality for a
// list of inputs, written as a feature cache (src/io/embedding_file.h) that the feature-cached
// dataset reads directly. Only the frozen ImageBind model of `model.imagebind` is built (with
// weights, only the tower that runs). Decoding runs on a small thread pool and overlaps the forward
// of the previous batch; bad inputs are skipped and listed ("failed" metadata and stderr), fatal
// only when every input fails.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "src/core/modality.h"
#include "trainers/run_config.h"

namespace ibllm::train {

struct EmbedOptions {
  core::Modality modality = core::Modality::kVision;
  std::string input;                // list file (one input per line) or a directory
  std::optional<std::string> root;  // relative list entries resolve here (default: the list's folder)
  std::string out;                  // .safetensors feature cache
  std::string weights;              // imagebind_huge.pth / imagebind_w3D.pth / .safetensors; "" = random
  std::string bpe;                  // CLIP BPE vocabulary (text)
  bool reference_truncation = false;  // text: ImageBind-LLM's truncation (EOT lost past 77 tokens)
  bool zero_image = false;          // vision: also store the all-zero image's embedding under ""
  int64_t batch = 1;                // items per forward
  int workers = 1;                  // decoding threads
  std::string config_path;          // recorded in the file's metadata
};

struct EmbedResult {
  size_t inputs = 0, embedded = 0, failed = 0;
  int64_t rows = 0, dim = 0;  // of the written matrix (rows include the zero image)
  double seconds = 0.0;
};

// One input of a run: the key the data files use (the text itself for text) and its resolved path.
struct EmbedItem {
  std::string key;
  std::string source;
};

// The inputs of `input` for `modality`: a directory's files with the modality's extensions
// (recursive, sorted by key), or a list file's lines (blank lines and '#' comments skipped, one row
// per key). Throws UsageError for text given a directory, IoError for unreadable paths.
std::vector<EmbedItem> collect_embed_inputs(const std::string& input, core::Modality modality,
                                            const std::optional<std::string>& root);
// File extensions a directory scan takes for `modality` (lower case, with the dot).
std::vector<std::string> embed_extensions(core::Modality modality);

// Option combinations that cannot work (text without --bpe, --zero-image off vision); UsageError.
void check_embed_options(const EmbedOptions& o, const std::string& hint = "");
// check_embed_options, then checks the options against the config (the tower is built, text has a vocabulary) and embeds.
EmbedResult embed_inputs(RunConfig cfg, const EmbedOptions& o);

}  // namespace ibllm::train
