// `ibllm build-cache --embeddings a.safetensors [b.safetensors ...] --out cache/`: merges `ibllm
// embed` feature files into the visual cache index (models/cache/cache_index.h: fp16 L2-normalised
// shards + manifest.json) that `model.cache.path` points at. The files after --embeddings are taken
// in command-line order, which decides which copy of a duplicated key is kept (the first).
#include <fmt/format.h>

#include <chrono>
#include <ostream>

#include "models/cache/cache_index.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "src/core/error.h"

namespace ibllm::cli {

namespace {

const char* kUsage =
    "ibllm build-cache --embeddings feats.safetensors [more.safetensors ...] --out cache/\n"
    "                  [--chunk-rows N] [--keep-zero-image]\n"
    "  --embeddings      files written by `ibllm embed` (float \"embeddings\" (N, D) + "
    "\"paths\");\n"
    "                    the flag may be repeated; a key found again in a later file is dropped\n"
    "  --out             cache directory (vectors-NNNNN.safetensors fp16 shards + manifest.json)\n"
    "  --chunk-rows      rows normalised per step (default 65536)\n"
    "  --keep-zero-image index the key \"\" (`ibllm embed --zero-image`) too; skipped by default";

bool is_flag(const std::string& a) { return a.size() > 2 && a.rfind("--", 0) == 0; }

}  // namespace

int cmd_build_cache(const std::vector<std::string>& argv, std::ostream& out) {
  // The files following each --embeddings, in order; the rest goes to the common parser.
  std::vector<std::string> files, rest;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (argv[i] != "--embeddings") {
      rest.push_back(argv[i]);
      continue;
    }
    const size_t before = files.size();
    while (i + 1 < argv.size() && !is_flag(argv[i + 1])) files.push_back(argv[++i]);
    if (files.size() == before) throw UsageError("--embeddings needs at least one file", kUsage);
  }
  const auto args =
      parse_args(rest, ArgSpec{{"--out", "--chunk-rows"}, {}, {"--keep-zero-image"}}, kUsage);
  if (!args.positionals.empty())
    throw UsageError("unexpected argument '" + args.positionals[0] + "'", kUsage);
  if (files.empty()) throw UsageError("missing --embeddings", kUsage);
  if (!args.value("--out")) throw UsageError("missing --out", kUsage);
  models::CacheBuildOptions options;
  options.skip_zero_image = !args.has("--keep-zero-image");
  options.chunk_rows = int_flag(args, "--chunk-rows", options.chunk_rows, 1, kUsage);

  const auto t0 = std::chrono::steady_clock::now();
  const std::string dir = *args.value("--out");
  const models::CacheBuildReport r = models::build_visual_cache(files, dir, options);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (const auto& s : r.sources)
    out << fmt::format(
        "  {}: {} rows, {} kept, {} duplicate{}{}\n", s.path, s.rows_in, s.rows_kept, s.duplicates,
        s.duplicates == 1 ? "" : "s",
        s.zero_image ? fmt::format(", {} zero-image row skipped", s.zero_image) : "");
  if (r.duplicates > 0) {
    out << fmt::format("{} duplicate key{} dropped (the first file's row is kept), e.g.:\n",
                       r.duplicates, r.duplicates == 1 ? "" : "s");
    for (const auto& d : r.duplicate_examples)
      out << fmt::format("  \"{}\" in {} (kept from {})\n", d.key, d.source, d.first_source);
  }
  out << fmt::format(
      "visual cache {}: {} x {} fp16 (L2-normalised, {:.1f} MB) from {} file{} in "
      "{:.2f} s\n",
      dir, r.count, r.dim, static_cast<double>(r.count * r.dim * 2) / 1e6, files.size(),
      files.size() == 1 ? "" : "s", secs);
  return 0;
}

}  // namespace ibllm::cli
