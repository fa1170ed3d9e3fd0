// `ibllm embed <config.yaml> --modality m --input <list|dir> --out feats.safetensors`: batched
// extraction of L2-normalised ImageBind embeddings with the frozen model of `model.imagebind`,
// written as a feature cache (src/io/embedding_file.h) that the feature-cached dataset reads directly.
// Decoding runs on a small thread pool and overlaps the forward of the previous batch; bad inputs
// are skipped and listed ("failed" metadata and stderr), fatal only when every input fails.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <fmt/format.h>
#include <torch/cuda.h>

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
#include <optional>
#include <set>
#include <thread>

#include "data/clip_tokenizer.h"
#include "src/io/embedding_file.h"
#include "data/image_transform.h"
#include "data/transforms/audio.h"
#include "data/transforms/depth_thermal.h"
#include "data/transforms/imu.h"
#include "data/transforms/point_cloud.h"
#include "data/transforms/video.h"
#include "models/imagebind/imagebind_model.h"
#include "models/imagebind/imagebind_weights.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "src/core/error.h"
#include "src/core/progress_bar.h"
#include "trainers/device_stats.h"
#include "trainers/modality_inputs.h"
#include "trainers/run_config.h"

namespace ibllm::cli {

namespace {

namespace fs = std::filesystem;

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

std::vector<std::string> extensions(const std::string& m) {
  if (m == "vision" || m == "depth" || m == "thermal")
    return {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"};
  if (m == "video") return {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"};
  if (m == "audio") return {".wav", ".flac", ".ogg"};
  if (m == "imu") return {".npy", ".csv", ".txt"};
  return {".npy", ".ply", ".xyz", ".txt", ".pt"};  // point
}

struct Item {
  std::string key;     // what the data files name it (the text itself for text)
  std::string source;  // resolved path (the text for text)
};

std::string lower(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

std::vector<Item> collect_inputs(const std::string& input, const std::string& modality,
                                 const std::optional<std::string>& root) {
  std::vector<Item> items;
  std::error_code ec;
  if (fs::is_directory(input, ec)) {
    if (modality == "text")
      throw UsageError("--modality text needs a list file (one text per line), not a directory",
                       kUsage);
    const auto exts = extensions(modality);
    for (auto it = fs::recursive_directory_iterator(input, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
      if (!it->is_regular_file()) continue;
      const std::string ext = lower(it->path().extension().string());
      if (std::find(exts.begin(), exts.end(), ext) == exts.end()) continue;
      items.push_back({fs::relative(it->path(), input).generic_string(), it->path().string()});
    }
    if (ec) throw IoError("cannot list input directory " + input + ": " + ec.message());
    std::sort(items.begin(), items.end(),
              [](const Item& a, const Item& b) { return a.key < b.key; });
    return items;
  }
  std::ifstream in(input);
  if (!in) throw IoError("cannot open input list " + input, "give a list file or a directory");
  const fs::path base = root ? fs::path(*root) : fs::path(input).parent_path();
  std::set<std::string> seen;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (modality != "text") {
      const auto a = line.find_first_not_of(" \t");
      if (a == std::string::npos || line[a] == '#') continue;  // blank or comment
      line = line.substr(a, line.find_last_not_of(" \t") - a + 1);
    } else if (line.find_first_not_of(" \t") == std::string::npos) {
      continue;
    }
    if (!seen.insert(line).second) continue;  // one row per key
    if (modality == "text") {
      items.push_back({line, line});
    } else {
      fs::path p(line);
      items.push_back({line, (p.is_absolute() ? p : base / p).string()});
    }
  }
  return items;
}

// LibTorch CPU ops parallelise with OpenMP and a fresh thread gets the full team; each decoding
// thread asks for one OpenMP thread (per-thread setting; looked up at run time as data/loader
// does).
void single_omp_thread() {
  using Fn = void (*)(int);
  static Fn fn = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  if (fn) fn(1);
}

using Decoder = std::function<at::Tensor(const std::string&)>;

struct DecodedBatch {
  std::vector<size_t> ok;  // item indices, in order
  std::vector<at::Tensor> tensors;
  std::vector<std::pair<size_t, std::string>> failed;  // item index, error
};

DecodedBatch decode_batch(const std::vector<Item>& items, size_t begin, size_t end,
                          const Decoder& decode, int workers) {
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
  const std::string modality = *args.value("--modality");
  const auto& names = train::input_modality_names();
  if (std::find(names.begin(), names.end(), modality) == names.end())
    throw UsageError("unknown --modality '" + modality + "'", kUsage);
  if (modality == "text" && !args.value("--bpe"))
    throw UsageError("--modality text needs --bpe <bpe_simple_vocab_16e6.txt.gz>", kUsage);
  if (args.has("--zero-image") && modality != "vision")
    throw UsageError("--zero-image is for --modality vision", kUsage);

  train::RunConfig cfg = train::load_run_config(args.positionals[0], args.all("--set"), nullptr,
                                                train::Checks::kSyntax);
  const std::string tower = modality == "video" ? "vision" : modality;
  auto& ib = cfg.model.imagebind;
  if (std::find(ib.modalities.begin(), ib.modalities.end(), tower) == ib.modalities.end())
    throw ConfigError("model.imagebind.modalities has no '" + tower + "' tower",
                      "add it to model.imagebind.modalities (or --set)");
  // With weights only the tower we run is allocated (the checkpoint's other towers are skipped).
  // Without weights the whole configured model is built, so the random-init numbers are exactly
  // those the configured model computes online (the init draws depend on which towers exist).
  if (args.value("--weights")) ib.modalities = {tower};
  const int64_t batch = int_flag(args, "--batch", cfg.data.batch_size, 1, kUsage);
  const int workers =
      static_cast<int>(int_flag(args, "--workers", std::max(cfg.data.num_workers, 1), 1, kUsage));
  if (cfg.run.threads > 0) at::set_num_threads(cfg.run.threads);

  std::shared_ptr<const data::ClipTokenizer> bpe;
  if (modality == "text") {
    data::ClipTokenizerOptions o;
    o.context_length = ib.text.context_length;
    o.reference_truncation = args.has("--reference-truncation");
    bpe = std::make_shared<const data::ClipTokenizer>(*args.value("--bpe"), o);
  }
  const Decoder decode = train::make_modality_decoder(modality, cfg, bpe);
  const auto items = collect_inputs(*args.value("--input"), modality, args.value("--root"));
  if (items.empty()) throw UsageError("no inputs found in " + *args.value("--input"), kUsage);

  // The frozen model: fp32 on CPU, bf16 on CUDA.
  const at::Device device = train::select_device(cfg.run.device);
  models::ImageBindModel model(ib);
  std::string weights = "random-init";
  if (auto w = args.value("--weights")) {
    auto report = models::load_imagebind_weights(*model, *w);
    weights = *w;
    std::cerr << fmt::format("loaded {} tensors from {} ({} skipped: other modalities)\n",
                             report.loaded.size(), *w,
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
    at::Tensor e = model->encode(modality == "video" ? "vision" : modality, at::stack(xs));
    e = e.to(at::kCPU, at::kFloat);
    return e / e.norm(2, {-1}, true).clamp_min(1e-12);  // L2-normalise (multi-clip means too)
  };
  if (args.has(
          "--zero-image")) {  // the all-zero normalised image of the reference's text-only rows
    const int64_t s = cfg.data.image.size;
    keys.emplace_back("");
    rows.push_back(encode({at::zeros({3, s, s})}));
  }

  core::ProgressBar bar(static_cast<int64_t>(items.size()), stderr);
  size_t done = 0;
  auto launch = [&](size_t begin) {
    const size_t end = std::min(items.size(), begin + static_cast<size_t>(batch));
    return std::async(std::launch::async, decode_batch, std::cref(items), begin, end,
                      std::cref(decode), workers);
  };
  std::future<DecodedBatch> pending = launch(0);
  for (size_t begin = 0; begin < items.size(); begin += static_cast<size_t>(batch)) {
    DecodedBatch b = pending.get();
    const size_t next = begin + static_cast<size_t>(batch);
    if (next < items.size()) pending = launch(next);  // decode ahead while this batch runs
    for (const auto& [i, err] : b.failed) {
      std::cerr << "failed: " << items[i].key << ": " << err << "\n";
      failed.push_back({{"path", items[i].key}, {"error", err}});
    }
    if (!b.tensors.empty()) {
      rows.push_back(encode(b.tensors));
      for (size_t i : b.ok) keys.push_back(items[i].key);
    }
    done = std::min(items.size(), next);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    bar.update(static_cast<int64_t>(done),
               fmt::format("{:.1f} items/s", done / std::max(secs, 1e-9)));
  }
  bar.finish();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  const size_t n_ok = keys.size() - (args.has("--zero-image") ? 1 : 0);
  if (n_ok == 0)
    throw DataError(fmt::format("all {} inputs failed to decode; nothing written", items.size()),
                    "see the 'failed:' lines above");
  at::Tensor embeddings = at::cat(rows, 0);
  io::write_embedding_file(*args.value("--out"), keys, embeddings,
                            {{"failed", failed.dump()},
                             {"modality", modality},
                             {"weights", weights},
                             {"config", args.positionals[0]}});
  out << fmt::format(
      "embedded {} of {} inputs ({} failed) -> {} ({} x {}) in {:.2f} s ({:.1f} items/s)\n", n_ok,
      items.size(), failed.size(), *args.value("--out"), embeddings.size(0), embeddings.size(1),
      secs, static_cast<double>(items.size()) / std::max(secs, 1e-9));
  return 0;
}

}  // namespace ibllm::cli
