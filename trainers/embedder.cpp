// Feature extraction; see embedder.h.
#include "trainers/embedder.h"

#include <ATen/ATen.h>
#include <dlfcn.h>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "data/clip_tokenizer.h"
#include "models/imagebind/imagebind_model.h"
#include "models/imagebind/imagebind_weights.h"
#include "src/core/error.h"
#include "src/core/progress_bar.h"
#include "src/io/embedding_file.h"
#include "trainers/device_stats.h"
#include "trainers/modality_inputs.h"

namespace ibllm::train {
namespace {

namespace fs = std::filesystem;
using core::Modality;

std::string lower(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

// LibTorch CPU ops parallelise with OpenMP and a fresh thread gets the full team; each decoding
// thread asks for one OpenMP thread (per-thread setting; looked up at run time as data/loader
// does).
void single_omp_thread() {
  using Fn = void (*)(int);
  static Fn fn = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  if (fn) fn(1);
}

struct DecodedBatch {
  std::vector<size_t> ok;  // item indices, in order
  std::vector<at::Tensor> tensors;
  std::vector<std::pair<size_t, std::string>> failed;  // item index, error
};

DecodedBatch decode_batch(const std::vector<EmbedItem>& items, size_t begin, size_t end,
                          const ModalityDecoder& decode, int workers) {
  const size_t n = end - begin;
  std::vector<at::Tensor> out(n);
  std::vector<std::string> errors(n);
  std::atomic<size_t> next{0};
  auto work = [&] {
    single_omp_thread();
    for (size_t i = next++; i < n; i = next++) {
      try {
        out[i] = decode(items[begin + i].source);
      } catch (const std::exception& e) {  // recorded and reported as "failed"
        errors[i] = e.what();
        if (errors[i].empty()) errors[i] = "unknown error";
      }
    }
  };
  std::vector<std::thread> pool;
  const size_t threads = std::min<size_t>(static_cast<size_t>(std::max(workers, 1)), n);
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  DecodedBatch b;
  for (size_t i = 0; i < n; ++i) {
    if (out[i].defined()) {
      b.ok.push_back(begin + i);
      b.tensors.push_back(out[i]);
    } else {
      b.failed.emplace_back(begin + i, errors[i]);
    }
  }
  return b;
}

}  // namespace

std::vector<std::string> embed_extensions(Modality m) {
  switch (m) {
    case Modality::kVision:
    case Modality::kDepth:
    case Modality::kThermal: return {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"};
    case Modality::kVideo: return {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"};
    case Modality::kAudio: return {".wav", ".flac", ".ogg"};
    case Modality::kImu: return {".npy", ".csv", ".txt"};
    case Modality::kPoint: return {".npy", ".ply", ".xyz", ".txt", ".pt"};
    case Modality::kText: break;
  }
  return {};
}

std::vector<EmbedItem> collect_embed_inputs(const std::string& input, Modality modality,
                                            const std::optional<std::string>& root) {
  const bool text = modality == Modality::kText;
  std::vector<EmbedItem> items;
  std::error_code ec;
  if (fs::is_directory(input, ec)) {
    if (text)
      throw UsageError("--modality text needs a list file (one text per line), not a directory");
    const auto exts = embed_extensions(modality);
    for (auto it = fs::recursive_directory_iterator(input, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
      if (!it->is_regular_file()) continue;
      const std::string ext = lower(it->path().extension().string());
      if (std::find(exts.begin(), exts.end(), ext) == exts.end()) continue;
      items.push_back({fs::relative(it->path(), input).generic_string(), it->path().string()});
    }
    if (ec) throw IoError("cannot list input directory " + input + ": " + ec.message());
    std::sort(items.begin(), items.end(),
              [](const EmbedItem& a, const EmbedItem& b) { return a.key < b.key; });
    return items;
  }
  std::ifstream in(input);
  if (!in) throw IoError("cannot open input list " + input, "give a list file or a directory");
  const fs::path base = root ? fs::path(*root) : fs::path(input).parent_path();
  std::set<std::string> seen;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!text) {
      const auto a = line.find_first_not_of(" \t");
      if (a == std::string::npos || line[a] == '#') continue;  // blank or comment
      line = line.substr(a, line.find_last_not_of(" \t") - a + 1);
    } else if (line.find_first_not_of(" \t") == std::string::npos) {
      continue;
    }
    if (!seen.insert(line).second) continue;  // one row per key
    if (text) {
      items.push_back({line, line});
    } else {
      fs::path p(line);
      items.push_back({line, (p.is_absolute() ? p : base / p).string()});
    }
  }
  return items;
}

void check_embed_options(const EmbedOptions& o, const std::string& hint) {
  if (o.modality == Modality::kText && o.bpe.empty())
    throw UsageError("--modality text needs --bpe <bpe_simple_vocab_16e6.txt.gz>", hint);
  if (o.zero_image && o.modality != Modality::kVision)
    throw UsageError("--zero-image is for --modality vision", hint);
  if (o.input.empty() || o.out.empty()) throw UsageError("embed needs --input and --out", hint);
}

EmbedResult embed_inputs(RunConfig cfg, const EmbedOptions& o) {
  check_embed_options(o);
  const std::string& modality = core::modality_name(o.modality);
  const std::string& tower = core::modality_name(core::modality_info(o.modality).tower);
  auto& ib = cfg.model.imagebind;
  if (std::find(ib.modalities.begin(), ib.modalities.end(), tower) == ib.modalities.end())
    throw ConfigError("model.imagebind.modalities has no '" + tower + "' tower",
                      "add it to model.imagebind.modalities (or --set)");
  // With weights only the tower we run is allocated (the checkpoint's other towers are skipped).
  // Without weights the whole configured model is built, so the random-init numbers are exactly
  // those the configured model computes online (the init draws depend on which towers exist).
  if (!o.weights.empty()) ib.modalities = {tower};
  if (cfg.run.threads > 0) at::set_num_threads(cfg.run.threads);

  std::shared_ptr<const data::ClipTokenizer> bpe;
  if (o.modality == Modality::kText) {
    data::ClipTokenizerOptions to;
    to.context_length = ib.text.context_length;
    to.reference_truncation = o.reference_truncation;
    bpe = std::make_shared<const data::ClipTokenizer>(o.bpe, to);
  }
  const ModalityDecoder decode = make_modality_decoder(o.modality, cfg, bpe);
  const auto items = collect_embed_inputs(o.input, o.modality, o.root);
  if (items.empty()) throw UsageError("no inputs found in " + o.input);

  // The frozen model: fp32 on CPU, bf16 on CUDA.
  const at::Device device = select_device(cfg.run.device);
  models::ImageBindModel model(ib);
  std::string weights = "random-init";
  if (!o.weights.empty()) {
    auto report = models::load_imagebind_weights(*model, o.weights);
    weights = o.weights;
    std::cerr << fmt::format("loaded {} tensors from {} ({} skipped: other modalities)\n",
                             report.loaded.size(), o.weights,
                             report.ignored.size() + report.unexpected.size());
  } else {
    at::manual_seed(static_cast<uint64_t>(cfg.run.seed));  // reproducible from run.seed
    model->reset_parameters();
    std::cerr << "warning: no --weights given: the ImageBind model is randomly initialised "
                 "(reset_parameters seeded with run.seed); these embeddings are NOT meaningful "
                 "features\n";
  }
  if (device.is_cuda()) model->to(device, at::kBFloat16);
  model->eval();

  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::string> keys;
  std::vector<at::Tensor> rows;
  nlohmann::json failed = nlohmann::json::array();
  auto encode = [&](const std::vector<at::Tensor>& xs) {
    at::Tensor e = model->encode(tower, at::stack(xs));
    e = e.to(at::kCPU, at::kFloat);
    return e / e.norm(2, {-1}, true).clamp_min(1e-12);  // L2-normalise (multi-clip means too)
  };
  if (o.zero_image) {  // the all-zero normalised image of the reference's text-only rows
    const int64_t s = cfg.data.image.size;
    keys.emplace_back("");
    rows.push_back(encode({at::zeros({3, s, s})}));
  }

  const size_t batch = static_cast<size_t>(std::max<int64_t>(o.batch, 1));
  core::ProgressBar bar(static_cast<int64_t>(items.size()), stderr);
  auto launch = [&](size_t begin) {
    const size_t end = std::min(items.size(), begin + batch);
    return std::async(std::launch::async, decode_batch, std::cref(items), begin, end,
                      std::cref(decode), o.workers);
  };
  std::future<DecodedBatch> pending = launch(0);
  for (size_t begin = 0; begin < items.size(); begin += batch) {
    DecodedBatch b = pending.get();
    const size_t next = begin + batch;
    if (next < items.size()) pending = launch(next);  // decode ahead while this batch runs
    for (const auto& [i, err] : b.failed) {
      std::cerr << "failed: " << items[i].key << ": " << err << "\n";
      failed.push_back({{"path", items[i].key}, {"error", err}});
    }
    if (!b.tensors.empty()) {
      rows.push_back(encode(b.tensors));
      for (size_t i : b.ok) keys.push_back(items[i].key);
    }
    const size_t done = std::min(items.size(), next);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    bar.update(static_cast<int64_t>(done),
               fmt::format("{:.1f} items/s", done / std::max(secs, 1e-9)));
  }
  bar.finish();

  EmbedResult r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.inputs = items.size();
  r.failed = failed.size();
  r.embedded = keys.size() - (o.zero_image ? 1 : 0);
  if (r.embedded == 0)
    throw DataError(fmt::format("all {} inputs failed to decode; nothing written", items.size()),
                    "see the 'failed:' lines above");
  const at::Tensor embeddings = at::cat(rows, 0);
  io::write_embedding_file(o.out, keys, embeddings,
                           {{"failed", failed.dump()},
                            {"modality", modality},
                            {"weights", weights},
                            {"config", o.config_path}});
  r.rows = embeddings.size(0);
  r.dim = embeddings.size(1);
  return r;
}

}  // namespace ibllm::train
