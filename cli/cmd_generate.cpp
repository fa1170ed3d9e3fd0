// `ibllm generate <config.yaml | checkpoint dir> --prompt "..." [--image p] [--audio p] [--video p]
// [--point p] [--depth p] [--thermal p] [--imu p] [--text "..."] [--weight modality=w ...]
// [--temperature t] [--top-p p] [--max-new-tokens n] [--seed s] [--raw] [--checkpoint p]`
// answers one prompt (stdout: the answer); `--requests in.jsonl --out out.jsonl [--batch N]`
// answers a file of requests in batches, writing one result (or error) record per input line.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "data/clip_tokenizer.h"
#include "models/cache/visual_cache.h"
#include "src/core/error.h"
#include "src/core/modality.h"
#include "trainers/generator.h"
#include "trainers/run_setup.h"

namespace ibllm::cli {
namespace {

const char* kUsage =
    "ibllm generate <config.yaml | checkpoint dir> --prompt \"...\" [inputs] [sampling]\n"
    "ibllm generate <config.yaml | checkpoint dir> --requests in.jsonl --out out.jsonl [--batch N]\n"
    "  inputs    --image p --video p --audio p --point p --depth p --thermal p --imu p --text \"...\"\n"
    "            (repeatable; mixed with --weight modality=w, default 1 each)\n"
    "  sampling  --temperature t (0 = greedy) --top-p p --max-new-tokens n --seed s\n"
    "  --raw     use the prompt verbatim instead of the Alpaca template\n"
    "  --no-cache  skip the visual cache even when model.cache.enabled is true\n"
    "  --checkpoint  trained weights (checkpoint dir, export, 7B.pth); default: model.init\n"
    "  --bpe     CLIP BPE vocabulary, needed for --text inputs\n"
    "  request lines: {\"id\", \"prompt\", \"image\": p|[p..], \"audio\": ..., \"weights\": {...},\n"
    "                  \"temperature\", \"top_p\", \"max_new_tokens\", \"seed\", \"raw\"}";

}  // namespace

int cmd_generate(const std::vector<std::string>& argv, std::ostream& out) {
  // One flag per input modality; the vision input is --image (the name users know).
  std::vector<std::string> mods;
  for (const auto& m : core::input_names()) mods.push_back(m == "vision" ? "image" : m);
  ArgSpec spec{{"--prompt", "--checkpoint", "--temperature", "--top-p", "--max-new-tokens",
                "--seed", "--requests", "--out", "--batch", "--bpe"},
               {"--set", "--weight"},
               {"--raw", "--no-cache"}};
  for (const auto& m : mods) spec.multi_flags.push_back("--" + m);
  auto args = parse_args(argv, spec, kUsage);
  if (args.positionals.size() != 1) throw UsageError("expected one config or checkpoint", kUsage);
  const bool file_mode = args.value("--requests").has_value();
  if (file_mode == args.value("--prompt").has_value())
    throw UsageError("give either --prompt or --requests", kUsage);
  if (file_mode && !args.value("--out")) throw UsageError("--requests needs --out", kUsage);
  // Sampling: generation.* from the config, then the flags; one range check for both.
  models::GenerationConfig defaults;
  train::SetupOptions so;
  so.check_config = [&](const train::RunConfig& c) {
    defaults = c.generation;
    constexpr int64_t kAny = std::numeric_limits<int64_t>::min();
    defaults.temperature = number_flag(args, "--temperature", defaults.temperature, kUsage);
    defaults.top_p = number_flag(args, "--top-p", defaults.top_p, kUsage);
    defaults.max_new_tokens = static_cast<int>(std::clamp<int64_t>(
        int_flag(args, "--max-new-tokens", defaults.max_new_tokens, kAny, kUsage), -1, INT32_MAX));
    defaults.seed = int_flag(args, "--seed", defaults.seed, kAny, kUsage);
    for (const auto& p : models::sampling_problems(defaults))
      throw UsageError(models::sampling_flag(p.key) + ": " + p.message, kUsage);
  };
  auto run = train::setup_run({args.positionals[0], args.value("--checkpoint").value_or(""),
                               args.all("--set"), train::Checks::kSyntax}, so);

  std::shared_ptr<const data::ClipTokenizer> bpe;
  if (auto p = args.value("--bpe")) bpe = std::make_shared<const data::ClipTokenizer>(*p);
  std::unique_ptr<models::VisualCache> cache;
  std::function<at::Tensor(const at::Tensor&)> apply_cache;
  if (run.config.model.cache.enabled && !args.has("--no-cache")) {
    cache = std::make_unique<models::VisualCache>(run.config.model.cache, run.device);
    spdlog::info("visual cache {}: {} vectors, K={} tau={} beta={}", run.config.model.cache.path,
                 cache->size(), run.config.model.cache.top_k, run.config.model.cache.temperature,
                 run.config.model.cache.beta);
    apply_cache = [&](const at::Tensor& f) { return cache->apply(f); };
  }
  train::Generator gen(run.model, run.config, run.tokenizer, bpe, apply_cache);
  const int64_t batch = int_flag(args, "--batch", 8, 1, kUsage);

  if (!file_mode) {
    train::GenerateRequest r;
    r.prompt = *args.value("--prompt");
    r.raw = args.has("--raw");
    r.sampling = defaults;
    for (const auto& mname : mods)
      for (const auto& v : args.all("--" + mname)) r.inputs.emplace_back(mname, v);
    for (const auto& w : args.all("--weight")) {
      auto eq = w.find('=');
      if (eq == std::string::npos) throw UsageError("--weight needs modality=w, got '" + w + "'", kUsage);
      if (!core::find_modality(w.substr(0, eq)))
        throw UsageError("--weight: unknown modality '" + w.substr(0, eq) + "'", kUsage);
      r.weights[w.substr(0, eq)] = parse_number("--weight " + w.substr(0, eq), w.substr(eq + 1), kUsage);
    }
    // On a terminal the answer appears token by token; in pipes and logs it is printed whole.
    const bool tty = ::isatty(::fileno(stdout)) && &out == &std::cout;
    std::string streamed;
    if (tty)
      gen.set_stream([&](const std::string& delta) {
        streamed += delta;
        out << delta << std::flush;
      });
    auto res = gen.run({r}, 1).at(0);
    if (!res.error.empty()) throw Error("generate", res.error);
    // (a terminal already shows the streamed part; print whatever the stream held back)
    out << (tty ? res.text.substr(std::min(streamed.size(), res.text.size())) : res.text)
        << std::endl;
    spdlog::info("{} tokens{}, encode {:.0f} ms, decode {:.0f} ms ({:.1f} tokens/s)",
                 res.tokens.size(), res.stopped_at_eos ? " (eos)" : "", res.encode_ms,
                 res.decode_ms, res.tokens.size() / std::max(res.decode_ms / 1e3, 1e-9));
    return 0;
  }

  std::ifstream in(*args.value("--requests"));
  if (!in) throw IoError("cannot open " + *args.value("--requests"));
  std::vector<train::GenerateRequest> reqs;
  std::vector<nlohmann::json> records;  // per input line: a result index or an error record
  std::vector<int64_t> slot;
  std::string line;
  int64_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      auto r = train::parse_request(nlohmann::json::parse(line), defaults);
      if (r.id.empty()) r.id = std::to_string(n);
      reqs.push_back(std::move(r));
      slot.push_back(static_cast<int64_t>(reqs.size()) - 1);
      records.push_back(nullptr);
    } catch (const std::exception& e) {
      slot.push_back(-1);
      records.push_back({{"line", n}, {"error", e.what()}});
    }
  }
  auto results = gen.run(reqs, batch);
  std::ofstream o(*args.value("--out"));
  if (!o) throw IoError("cannot write " + *args.value("--out"));
  int64_t errors = 0;
  for (size_t i = 0; i < slot.size(); ++i) {
    nlohmann::json j = slot[i] < 0 ? records[i] : results[static_cast<size_t>(slot[i])].to_json();
    errors += j.contains("error");
    o << j.dump() << "\n";
  }
  out << nlohmann::json{{"requests", slot.size()}, {"errors", errors}, {"out", *args.value("--out")}}.dump()
      << "\n";
  return 0;
}

}  // namespace ibllm::cli
