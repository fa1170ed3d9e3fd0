// `ibllm embed <config.yaml> --modality m --input <list|dir> --out feats.safetensors`: batched
// extraction of L2-normalised ImageBind embeddings (trainers/embedder), written as a feature cache
// that the feature-cached dataset reads directly. Parses the flags and reports the result.
#include <fmt/format.h>

#include <algorithm>

#include "cli/args.h"
#include "cli/commands.h"
#include "src/core/error.h"
#include "src/core/modality.h"
#include "trainers/embedder.h"
#include "trainers/run_config.h"

namespace ibllm::cli {

namespace {

const char* kUsage =
    "ibllm embed <config.yaml> --modality <vision|video|text|audio|depth|thermal|imu|point>\n"
    "            --input <list.txt|dir> --out feats.safetensors [--weights imagebind.pth]\n"
    "            [--batch N] [--workers N] [--root DIR] [--bpe vocab.txt.gz]\n"
    "            [--reference-truncation] [--zero-image] [--set key.path=value ...]\n"
    "  --input      list file (one input per line; text: one text per line) or a directory\n"
    "               (all files with the modality's extensions, recursively, sorted)\n"
    "  --root       relative paths of a list file resolve against DIR (default: the list's "
    "folder);\n"
    "               row keys stay as written, as the data files name them\n"
    "  --weights    imagebind_huge.pth / imagebind_w3D.pth / .safetensors; without it the model "
    "is\n"
    "               randomly initialised (a warning says so)\n"
    "  --batch      items per forward (default data.batch_size)\n"
    "  --workers    decoding threads (default data.num_workers, at least 1)\n"
    "  --bpe        CLIP BPE vocabulary for --modality text (bpe_simple_vocab_16e6.txt.gz)\n"
    "  --reference-truncation  text: ImageBind-LLM's truncation (EOT lost past 77 tokens)\n"
    "  --zero-image vision: also store the all-zero image's embedding under the key \"\"\n"
    "               (text-only rows in data.text_only: reference)";

}  // namespace

int cmd_embed(const std::vector<std::string>& argv, std::ostream& out) {
  const auto args = parse_args(argv,
                               ArgSpec{{"--modality", "--input", "--out", "--weights", "--batch",
                                        "--workers", "--root", "--bpe"},
                                       {"--set"},
                                       {"--reference-truncation", "--zero-image"}},
                               kUsage);
  if (args.positionals.size() != 1) throw UsageError("expected exactly one config file", kUsage);
  for (const char* f : {"--modality", "--input", "--out"})
    if (!args.value(f)) throw UsageError(std::string("missing ") + f, kUsage);
  const std::string name = *args.value("--modality");
  const auto& names = core::input_names();
  const auto modality = core::find_modality(name);
  if (!modality || std::find(names.begin(), names.end(), name) == names.end())
    throw UsageError("unknown --modality '" + name + "'", kUsage);
  train::EmbedOptions o;
  o.modality = *modality;
  o.input = *args.value("--input");
  o.root = args.value("--root");
  o.out = *args.value("--out");
  o.weights = args.value("--weights").value_or("");
  o.bpe = args.value("--bpe").value_or("");
  o.reference_truncation = args.has("--reference-truncation");
  o.zero_image = args.has("--zero-image");
  o.config_path = args.positionals[0];
  train::check_embed_options(o, kUsage);  // before the config is read
  const train::RunConfig cfg =
      train::load_run_config(o.config_path, args.all("--set"), nullptr, train::Checks::kSyntax);
  o.batch = int_flag(args, "--batch", cfg.data.batch_size, 1, kUsage);
  o.workers =
      static_cast<int>(int_flag(args, "--workers", std::max(cfg.data.num_workers, 1), 1, kUsage));
  const auto r = train::embed_inputs(cfg, o);
  out << fmt::format(
      "embedded {} of {} inputs ({} failed) -> {} ({} x {}) in {:.2f} s ({:.1f} items/s)\n",
      r.embedded, r.inputs, r.failed, o.out, r.rows, r.dim, r.seconds,
      static_cast<double>(r.inputs) / std::max(r.seconds, 1e-9));
  return 0;
}

}  // namespace ibllm::cli
