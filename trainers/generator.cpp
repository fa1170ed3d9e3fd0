// Multimodal generation; see generator.h.
#include "trainers/generator.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <tuple>

#include <ATen/ATen.h>

#include "data/clip_tokenizer.h"
#include "data/prompt_template.h"
#include "data/tokenizer.h"
#include "models/llama/generate.h"
#include "src/core/error.h"
#include "src/core/modality.h"
#include "src/core/strings.h"

namespace ibllm::train {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

}  // namespace

nlohmann::json GenerateResult::to_json() const {
  nlohmann::json j = {{"id", id}};
  if (!error.empty()) {
    j["error"] = error;
    return j;
  }
  j["text"] = text;
  j["tokens"] = tokens.size();
  j["stopped_at_eos"] = stopped_at_eos;
  j["logprob"] = logprob;
  j["encode_ms"] = encode_ms;
  j["decode_ms"] = decode_ms;
  return j;
}

Generator::Generator(BuiltModel& model, const RunConfig& cfg,
                     std::shared_ptr<const data::LlamaTokenizer> tokenizer,
                     std::shared_ptr<const data::ClipTokenizer> bpe,
                     std::function<at::Tensor(const at::Tensor&)> cache)
    : m_(model), cfg_(cfg), tok_(std::move(tokenizer)), bpe_(std::move(bpe)),
      cache_(std::move(cache)) {
  m_.model->eval();
}

at::Tensor Generator::condition(const GenerateRequest& r) {
  if (r.inputs.empty()) return {};
  std::vector<std::pair<at::Tensor, double>> embeddings;
  const auto& built = cfg_.model.imagebind.modalities;
  for (const auto& [given, x] : r.inputs) {
    const auto modality = core::find_modality(given);
    if (!modality)
      throw DataError("unknown input modality '" + given + "'",
                      "use image or one of " + core::join(core::input_names(), ", "));
    const std::string& name = core::modality_name(*modality);
    const std::string& tower = core::modality_name(core::modality_info(*modality).tower);
    if (std::find(built.begin(), built.end(), tower) == built.end())
      throw ConfigError("this model has no '" + tower + "' tower (model.imagebind.modalities)",
                        "add it to model.imagebind.modalities (and its weights)");
    auto it = decoders_.find(name);
    if (it == decoders_.end())
      it = decoders_.emplace(name, make_modality_decoder(*modality, cfg_, bpe_)).first;
    auto input = it->second(x).unsqueeze(0);
    double w = 1.0;
    if (auto wi = r.weights.find(given); wi != r.weights.end()) w = wi->second;
    else if (auto wn = r.weights.find(name); wn != r.weights.end()) w = wn->second;
    embeddings.emplace_back(m_.model->embed(tower, input), w);
  }
  at::NoGradGuard guard;
  auto f = m_.model->mix(embeddings);
  if (cache_) f = cache_(f);
  return f;
}

void Generator::run_batch(const std::vector<GenerateRequest>& reqs, const std::vector<size_t>& idx,
                          std::vector<GenerateResult>& out) {
  at::NoGradGuard guard;
  std::vector<size_t> ok;
  std::vector<std::vector<int64_t>> prompts;
  std::vector<at::Tensor> feats;
  for (size_t i : idx) {
    const auto& r = reqs[i];
    auto& res = out[i];
    res.id = r.id;
    try {
      const auto t0 = Clock::now();
      auto f = condition(r);
      res.encode_ms = ms_since(t0);
      prompts.push_back(tok_->encode(r.raw ? r.prompt : data::format_prompt(r.prompt), true, false));
      feats.push_back(f);
      ok.push_back(i);
    } catch (const std::exception& e) {
      res.error = e.what();
    }
  }
  if (ok.empty()) return;
  const int64_t dim = m_.model->config().bind.in_dim;
  bool any = false;
  std::vector<at::Tensor> rows;
  std::vector<int64_t> has;
  for (auto& f : feats) {
    any = any || f.defined();
    has.push_back(f.defined() ? 1 : 0);
    rows.push_back(f.defined() ? f.to(at::kCPU, at::kFloat).reshape({1, dim})
                               : at::zeros({1, dim}, at::kFloat));
  }
  std::vector<at::Tensor> adapters;
  if (any)
    adapters = m_.model->adapter_inputs(at::cat(rows, 0), at::tensor(has, at::kLong).to(at::kBool));
  auto sampling = reqs[ok.front()].sampling;
  sampling.eos_id = tok_->eos_id();
  const auto t0 = Clock::now();
  try {
    models::TokenCallback on_token;
    std::vector<int64_t> so_far;
    std::string shown;
    if (stream_ && ok.size() == 1)
      on_token = [&](int64_t, int64_t t) {
        so_far.push_back(t);
        // Decode the whole prefix and print what is new (byte pieces complete later).
        const std::string text = tok_->decode(so_far);
        if (text.size() > shown.size() && text.compare(0, shown.size(), shown) == 0) {
          stream_(text.substr(shown.size()));
          shown = text;
        }
      };
    auto g = models::generate(*m_.model->llama, prompts, adapters, sampling, on_token);
    const double ms = ms_since(t0);
    for (size_t k = 0; k < ok.size(); ++k) {
      auto& res = out[ok[k]];
      res.tokens = g.tokens[k];
      res.stopped_at_eos = g.stopped_at_eos[k];
      res.logprob = g.logprob[k];
      res.text = tok_->decode(res.tokens);
      res.decode_ms = ms;
    }
  } catch (const std::exception& e) {
    for (size_t i : ok) out[i].error = e.what();
  }
}

std::vector<GenerateResult> Generator::run(const std::vector<GenerateRequest>& requests,
                                           int64_t batch_size) {
  std::vector<GenerateResult> out(requests.size());
  // Batch requests that share their sampling options (the decoder takes one set per batch),
  // keeping the file order within each group.
  using Key = std::tuple<int, double, double, int64_t>;
  std::vector<std::pair<Key, std::vector<size_t>>> groups;
  for (size_t i = 0; i < requests.size(); ++i) {
    const auto& s = requests[i].sampling;
    Key k{s.max_new_tokens, s.temperature, s.top_p, s.seed};
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == k; });
    if (it == groups.end()) groups.push_back({k, {i}});
    else it->second.push_back(i);
  }
  const size_t b = static_cast<size_t>(std::max<int64_t>(batch_size, 1));
  for (const auto& [key, members] : groups)
    for (size_t s = 0; s < members.size(); s += b)
      run_batch(requests,
                std::vector<size_t>(members.begin() + static_cast<std::ptrdiff_t>(s),
                                    members.begin() + static_cast<std::ptrdiff_t>(std::min(members.size(), s + b))),
                out);
  return out;
}

GenerateRequest parse_request(const nlohmann::json& j, const models::GenerationConfig& defaults) {
  if (!j.is_object()) throw DataError("a request must be a JSON object");
  GenerateRequest r;
  r.sampling = defaults;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const auto& v = it.value();
    auto need = [&](bool ok, const char* what) {
      if (!ok) throw DataError("request key '" + k + "' must be " + what);
    };
    if (k == "id") {
      need(v.is_string() || v.is_number_integer(), "a string or integer");
      r.id = v.is_string() ? v.get<std::string>() : std::to_string(v.get<int64_t>());
    } else if (k == "prompt") {
      need(v.is_string(), "a string");
      r.prompt = v.get<std::string>();
    } else if (k == "raw") {
      need(v.is_boolean(), "true or false");
      r.raw = v.get<bool>();
    } else if (core::find_modality(k)) {  // "image", "vision", "audio", ...
      if (v.is_string()) {
        r.inputs.emplace_back(k, v.get<std::string>());
      } else {
        need(v.is_array(), "a path (string) or a list of paths");
        for (const auto& e : v) {
          need(e.is_string(), "a path (string) or a list of paths");
          r.inputs.emplace_back(k, e.get<std::string>());
        }
      }
    } else if (k == "weights") {
      need(v.is_object(), "an object {modality: weight}");
      for (auto w = v.begin(); w != v.end(); ++w) {
        if (!core::find_modality(w.key()))
          throw DataError("request key 'weights': unknown modality '" + w.key() + "'",
                          "use image or one of " + core::join(core::input_names(), ", "));
        need(w.value().is_number() && w.value().get<double>() >= 0, "non-negative numbers");
        r.weights[w.key()] = w.value().get<double>();
      }
    } else if (k == "temperature") {
      need(v.is_number(), "a number");
      r.sampling.temperature = v.get<double>();
    } else if (k == "top_p") {
      need(v.is_number(), "a number");
      r.sampling.top_p = v.get<double>();
    } else if (k == "max_new_tokens") {
      need(v.is_number_integer() && v.get<int64_t>() <= (1 << 30), "an integer");
      r.sampling.max_new_tokens = v.get<int>();
    } else if (k == "seed") {
      need(v.is_number_integer(), "an integer");
      r.sampling.seed = v.get<int64_t>();
    } else {
      throw DataError("unknown request key '" + k + "'",
                      "keys: id prompt raw image video audio point depth thermal imu text weights "
                      "temperature top_p max_new_tokens seed");
    }
  }
  if (r.prompt.empty()) throw DataError("request without a \"prompt\"");
  for (const auto& p : models::sampling_problems(r.sampling))  // the ranges of generation.*
    throw DataError("request key '" + p.key + "': " + p.message);
  return r;
}

}  // namespace ibllm::train
