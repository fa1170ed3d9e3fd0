// On-disk visual cache index (spec §4 port note): `ibllm embed` feature files are merged into a
// directory of fp16 shards (`vectors-NNNNN.safetensors`, one per source file, tensor "vectors"
// (n, D) + metadata "paths") and a `manifest.json`. Rows are L2-normalised in fp32 before the fp16
// cast; a key seen in an earlier file (or earlier in the same file) is dropped and reported, since
// a repeated vector would take two of the K neighbour slots. Building holds one source file at a
// time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ibllm::models {

struct CacheBuildOptions {
  int64_t chunk_rows = 65536;   // rows normalised / checked per step (bounds temporary memory)
  bool skip_zero_image = true;  // drop the key "" (`ibllm embed --zero-image`: not a real image)
};

struct CacheDuplicate {
  std::string key;
  std::string first_source;  // file that holds the kept row
  std::string source;        // file whose row was dropped
};

struct CacheSourceReport {
  std::string path;
  std::string shard;  // file name inside the cache directory ("" when no row was kept)
  int64_t rows_in = 0;
  int64_t rows_kept = 0;
  int64_t duplicates = 0;
  int64_t zero_image = 0;  // rows with key "" that were skipped
};

struct CacheBuildReport {
  int64_t count = 0;
  int64_t dim = 0;
  int64_t duplicates = 0;
  std::vector<CacheSourceReport> sources;
  std::vector<CacheDuplicate> duplicate_examples;  // the first 20
};

// Throws DataError for: no sources, an unreadable file, a missing "embeddings" tensor or "paths"
// metadata, a non-float or non-2-D tensor, an empty file, a width differing from the first file,
// a non-finite or all-zero row (file, row and key named), or nothing left to index.
CacheBuildReport build_visual_cache(const std::vector<std::string>& sources,
                                    const std::string& out_dir,
                                    const CacheBuildOptions& options = {});

struct CacheShardInfo {
  std::string file;    // relative to the cache directory
  std::string source;  // the embeddings file it came from
  int64_t rows = 0;
};

struct CacheManifest {
  int64_t count = 0;
  int64_t dim = 0;
  std::string dtype;                   // "F16"
  std::string normalisation;           // "l2"
  std::vector<CacheShardInfo> shards;  // in id order: global id = rows of earlier shards + row
};

// Reads and validates `<dir>/manifest.json`; throws DataError naming the file.
CacheManifest read_cache_manifest(const std::string& dir);

}  // namespace ibllm::models
