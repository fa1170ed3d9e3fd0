// Training-step benchmark; see bench.h.
#include "trainers/bench.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include <ATen/ATen.h>

#include "data/collate.h"
#include "src/core/error.h"
#include "trainers/data_parallel.h"
#include "trainers/device_stats.h"
#include "models/llama/generate.h"
#include "trainers/flops.h"
#include "trainers/model_builder.h"
#include "trainers/train_step.h"

namespace ibllm::train {
namespace {

// A batch shaped like the loader's: random tokens, the first third of each row is prompt
// (ignored in the labels), images or cached features.
data::Batch synthetic_batch(const RunConfig& c, int64_t b, int64_t t, at::Generator& gen) {
  data::Batch batch;
  const int64_t vocab = c.model.llama.vocab_size;
  batch.tokens = at::randint(3, vocab, {b, t}, gen, at::kLong);
  batch.labels = batch.tokens.clone();
  batch.ignore_index = c.data.ignore_index;
  batch.labels.narrow(1, 0, t / 3).fill_(batch.ignore_index);
  batch.valid_label_tokens = b * (t - std::max<int64_t>(t / 3, 1));
  if (c.model.build_imagebind) {
    const int64_t s = c.data.image.size;
    batch.images = at::randn({b, 3, s, s}, gen, at::kFloat);
  } else {
    batch.features = at::randn({b, c.model.imagebind.out_dim}, gen, at::kFloat);
  }
  batch.has_visual = at::ones({b}, at::kBool);
  for (int64_t i = 0; i < b; ++i) batch.indices.push_back(i);
  return batch;
}

}  // namespace

nlohmann::json bench_train_step(RunSetup& run, int64_t batch_size) {
  using Clock = std::chrono::steady_clock;
  const RunConfig& c = run.config;
  const int64_t b = batch_size > 0 ? batch_size : c.data.batch_size;
  const int64_t t = c.bench.seq_len > 0 ? c.bench.seq_len : c.data.max_words;
  // Under a launcher (local.sh, torchrun, srun) every rank times the data-parallel step.
  if (!run.comm) throw Error("bench", "bench_train_step needs the run's communicator");
  auto& comm = run.comm;
  BuiltModel& m = run.model;
  auto params = m.trainable_parameters();
  DataParallel dp(*comm, params, c.dist);
  AdamW opt(params, c.optim, dp.owned());
  TrainStep step(*m.model, params, opt, c.trainer, c.optim, dp.step_sync());
  auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(c.run.seed));
  std::vector<data::Batch> micro;
  for (int64_t k = 0; k < c.trainer.grad_accum; ++k) micro.push_back(synthetic_batch(c, b, t, gen));
  // Pre-stage inputs on the device: the benchmark times the step, not host-to-device copies.
  for (auto& mb : micro) {
    mb.tokens = mb.tokens.to(m.device);
    mb.labels = mb.labels.to(m.device);
    if (mb.images.defined()) mb.images = mb.images.to(m.device);
    if (mb.features.defined()) mb.features = mb.features.to(m.device);
  }
  const double lr = 1e-6;
  for (int64_t i = 0; i < c.bench.warmup_steps; ++i) step.run(micro, lr);
  synchronize(m.device);
  reset_peak_memory(m.device);
  std::vector<double> ms;
  PhaseTimer phases(m.device);  // CUDA events (read after the sync) or wall-clock on the CPU
  step.set_phase_timer(&phases);
  for (int64_t i = 0; i < c.bench.steps; ++i) {
    const auto t0 = Clock::now();
    step.run(micro, lr);
    synchronize(m.device);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    phases.collect();
  }
  step.set_phase_timer(nullptr);
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  double mean = 0;
  for (double v : ms) mean += v;
  mean /= static_cast<double>(ms.size());
  const double samples = static_cast<double>(b * c.trainer.grad_accum);
  const double tokens = samples * static_cast<double>(t);
  nlohmann::json j = {{"bench", "train_step"},
                      {"run", c.run.name},
                      {"device", device_name(m.device)},
                      {"precision", std::string("frozen ") + c10::toString(m.frozen_dtype) +
                                        ", trainable fp32"},
                      {"trainable", core::choice_name(models::trainable_preset_names(), c.model.trainable.preset)},
                      {"trainable_params", m.trainable.trainable_params},
                      {"batch", b},
                      {"grad_accum", c.trainer.grad_accum},
                      {"seq_len", t},
                      {"steps", c.bench.steps},
                      {"step_ms", mean},
                      {"step_ms_median", sorted[sorted.size() / 2]},
                      {"step_ms_min", sorted.front()},
                      {"samples_per_s", samples / (mean / 1e3)},
                      {"tokens_per_s", tokens / (mean / 1e3)},
                      {"peak_mem_gib", static_cast<double>(peak_memory_bytes(m.device)) /
                                           (1024.0 * 1024.0 * 1024.0)}};
  nlohmann::json phase_ms = nlohmann::json::object();
  const auto per_phase = phases.mean_ms();
  for (size_t i = 0; i < kStepPhases; ++i)
    phase_ms[step_phase_name(static_cast<StepPhase>(i))] = per_phase[i];
  j["phase_ms"] = phase_ms;
  j["phase_timing"] = m.device.is_cuda() ? "cuda events" : "wall clock";
  j["rank"] = comm->rank();
  j["world_size"] = comm->world_size();
  j["optimizer_state_gib"] = static_cast<double>(opt.state_bytes()) / (1024.0 * 1024.0 * 1024.0);
  if (auto* gs = dp.grad_sync()) {
    // The gradient all-reduce alone (same buckets, zero gradients), for its bandwidth.
    std::vector<at::Tensor> grads;
    for (const auto& p : params) grads.push_back(at::zeros_like(p.param));
    gs->average(grads);
    synchronize(m.device);
    const auto t0 = Clock::now();
    for (int64_t i = 0; i < c.bench.steps; ++i) gs->average(grads);
    synchronize(m.device);
    const double sync_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count() /
                           static_cast<double>(c.bench.steps);
    const double bytes = static_cast<double>(gs->comm_bytes());
    j["grad_sync"] = {{"backend", comm->backend()},
                      {"buckets", gs->num_buckets()},
                      {"mb", bytes / 1e6},
                      {"overlap", gs->overlapping()},
                      {"buckets_started_in_backward", gs->started_in_backward()},
                      {"zero_stage", dp.sharded() ? 1 : 0},
                      {"allreduce_ms", sync_ms},
                      // algorithm bandwidth (bytes / time); ring bus bandwidth = x 2(n-1)/n
                      {"allreduce_gbps", bytes / (sync_ms / 1e3) / 1e9}};
  }
  const double peak = peak_flops_for(device_name(m.device), m.frozen_dtype);
  const double fpt = model_flops_per_token(c, m, t);
  if (peak > 0 && fpt > 0) j["mfu"] = fpt * tokens / (mean / 1e3) / peak;
  return j;
}

nlohmann::json bench_decode(RunSetup& run, int64_t batch, int64_t prompt_len) {
  using Clock = std::chrono::steady_clock;
  const RunConfig& c = run.config;
  BuiltModel& m = run.model;
  m.model->eval();
  at::NoGradGuard guard;
  auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(c.run.seed));
  std::vector<std::vector<int64_t>> prompts;
  for (int64_t b = 0; b < batch; ++b) {
    auto t = at::randint(3, c.model.llama.vocab_size, {prompt_len}, gen, at::kLong);
    std::vector<int64_t> p{1};
    for (int64_t i = 0; i < prompt_len - 1; ++i) p.push_back(t[i].item<int64_t>());
    prompts.push_back(p);
  }
  auto f = at::randn({batch, m.model->config().bind.in_dim}, gen, at::kFloat);
  auto adapters = m.model->adapter_inputs(f / f.norm(2, {-1}, true));
  auto g = c.generation;
  g.temperature = 0.0;
  g.eos_id = -1;  // never stop early: every sequence decodes max_new_tokens tokens
  auto timed = [&](int new_tokens) {
    auto gc = g;
    gc.max_new_tokens = new_tokens;
    synchronize(m.device);
    const auto t0 = Clock::now();
    models::generate(*m.model->llama, prompts, adapters, gc);
    synchronize(m.device);
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  };
  timed(2);  // warm-up
  const double prefill = timed(1);
  const double total = timed(g.max_new_tokens);
  const double per_token = (total - prefill) / std::max(g.max_new_tokens - 1, 1);
  double weight_bytes = 0;
  for (const auto& p : m.model->llama->parameters())
    weight_bytes += static_cast<double>(p.numel() * p.element_size());
  nlohmann::json j = {{"bench", "decode"},
                      {"run", c.run.name},
                      {"device", device_name(m.device)},
                      {"dtype", std::string(c10::toString(m.frozen_dtype))},
                      {"batch", batch},
                      {"prompt_len", prompt_len},
                      {"new_tokens", g.max_new_tokens},
                      {"prefill_ms", prefill},
                      {"ms_per_step", per_token},
                      {"ms_per_token", per_token},  // per sequence: one token each step
                      {"tokens_per_s", static_cast<double>(batch) * 1e3 / per_token},
                      {"weights_gib", weight_bytes / (1024.0 * 1024.0 * 1024.0)}};
  return j;
}

}  // namespace ibllm::train
