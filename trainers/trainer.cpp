// The training loop; see trainer.h. Single process here; the distributed layer supplies the rank,
// the StepSync hooks and the loader sharding without changing this flow.
#include "trainers/trainer.h"

#include <chrono>
#include <csignal>
#include <cmath>
#include <filesystem>
#include <sstream>

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include "data/dataset.h"
#include "data/loader.h"
#include "data/tokenizer.h"
#include "src/checkpoint/checkpoint_store.h"
#include "src/checkpoint/compatibility.h"
#include "src/io/durable_file.h"
#include "src/checkpoint/resume.h"
#include "src/checkpoint/rng_state.h"
#include "src/checkpoint/stop_signal.h"
#include "src/core/error.h"
#include "src/core/logging.h"
#include "src/core/runtime_info.h"
#include "src/distributed/communicator.h"
#include "src/distributed/dist_env.h"
#include "src/distributed/param_sync.h"
#include "trainers/data_parallel.h"
#include "trainers/device_stats.h"
#include "trainers/flops.h"
#include "trainers/lr_schedule.h"
#include "trainers/model_builder.h"
#include "trainers/step_logger.h"
#include "trainers/train_step.h"

namespace ibllm::train {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string count(int64_t n) {
  char b[32];
  if (n >= 1000000000) std::snprintf(b, sizeof b, "%.2fB", n / 1e9);
  else if (n >= 1000000) std::snprintf(b, sizeof b, "%.2fM", n / 1e6);
  else if (n >= 1000) std::snprintf(b, sizeof b, "%.1fk", n / 1e3);
  else std::snprintf(b, sizeof b, "%lld", static_cast<long long>(n));
  return b;
}

// Position of the run, saved in every checkpoint.
struct Progress {
  int64_t step = 0;
  int64_t epoch = 0;
  int64_t cursor = 0;  // global samples consumed in `epoch`
  int64_t bad_steps = 0;
};

}  // namespace

TrainResult train(const RunConfig& c, const std::string& resolved_yaml) {
  TrainResult result;
  // ---- ranks: torchrun / Slurm / single process; one code path (world size 1 = no-op comm)
  const auto env = dist::detect_dist_env(c.dist);
  core::LogOptions log_opts;
  log_opts.rank = static_cast<int>(env.rank);
  log_opts.world_size = static_cast<int>(env.world_size);
  log_opts.level = c.run.log_level;
  core::init_logging(log_opts);
  const at::Device device = select_device(c.run.device, env.local_rank);
  auto comm = dist::make_communicator(env, c.dist, device);
  const int64_t rank = comm->rank(), world = comm->world_size();
  const bool writer = rank == 0;

  const fs::path run_dir = fs::path(c.run.output_dir) / c.run.name;
  if (writer) {
    fs::create_directories(run_dir);
    io::replace_file_atomically(run_dir / "config.resolved.yaml", resolved_yaml);
  }
  comm->barrier();
  result.run_dir = run_dir.string();
  const int threads = core::configure_threads(c.run.threads);
  if (core::blas_library() == "reference")
    spdlog::warn("LibTorch uses the reference (netlib) BLAS: CPU matmuls run ~7x slower; "
                 "install an optimised one (Debian: apt-get install libopenblas0-pthread)");

  // ---- model, data, optimizer
  BuiltModel bm = build_model(c, /*force_random_base=*/false, env.local_rank);
  auto& model = *bm.model;
  auto tokenizer = std::make_shared<const data::LlamaTokenizer>(c.data.tokenizer);
  auto dataset = std::make_shared<const data::Dataset>(c.data, static_cast<uint64_t>(c.run.seed));
  data::LoaderOptions lo;
  lo.seed = static_cast<uint64_t>(c.run.seed);
  lo.world_size = world;
  lo.rank = rank;
  data::DataLoader loader(c.data, dataset, tokenizer, lo);
  const int64_t accum = c.trainer.grad_accum;
  const int64_t micro_per_epoch = loader.sampler().batches_per_epoch();
  const int64_t steps_per_epoch = micro_per_epoch / accum;
  if (steps_per_epoch == 0)
    throw ConfigError("an epoch has " + std::to_string(micro_per_epoch) +
                          " batches, fewer than trainer.grad_accum " + std::to_string(accum),
                      "lower data.batch_size or trainer.grad_accum, or add data");
  const int64_t total = c.trainer.max_steps > 0 ? c.trainer.max_steps
                                                : c.trainer.epochs * steps_per_epoch;
  const int64_t global_batch = c.data.batch_size * accum * world;
  const double peak_lr = effective_lr(c.optim, global_batch);
  const auto schedule =
      make_schedule(c.schedule, peak_lr, total, static_cast<double>(steps_per_epoch));
  auto params = bm.trainable_parameters();
  // Same starting weights on every rank (rank 0's), gradient sync, and ZeRO-1: this rank keeps the
  // Adam state of its shard only.
  DataParallel dp(*comm, params, c.dist);
  AdamW optimizer(params, c.optim, dp.owned());
  const StepSync sync = dp.step_sync();
  TrainStep step_fn(model, params, optimizer, c.trainer, c.optim, sync);

  // ---- plan
  int64_t all_params = 0;
  for (const auto& p : model.parameters()) all_params += p.numel();
  spdlog::info("run {} on {} ({}, frozen {}, trainable fp32), {} intra-op threads; rank {} of {} "
               "({}, backend {})",
               run_dir.string(), device_name(bm.device), bm.device.str(),
               c10::toString(bm.frozen_dtype), threads, rank, world, env.source, comm->backend());
  spdlog::info("weights:\n{}", bm.init_summary);
  spdlog::info("parameters: {} total, {} trainable ({}), {} frozen; trainable set '{}':\n{}",
               count(all_params), count(bm.trainable.trainable_params),
               bm.trainable.names.size(), count(bm.trainable.frozen_params),
               c.model.trainable.preset, bm.trainable.summary);
  spdlog::info("optimizer: {}", optimizer.summary());
  if (dp.active()) spdlog::info("{}", dp.describe());
  spdlog::info("data: {} samples, {} batches/epoch of {} per rank; grad_accum {} -> effective "
               "batch {} ({} ranks)",
               dataset->size(), micro_per_epoch, c.data.batch_size, accum, global_batch, world);
  spdlog::info("schedule: {} steps ({} per epoch), peak lr {:.4g}{}, {} warm-up",
               total, steps_per_epoch, peak_lr,
               c.optim.lr > 0 ? " (optim.lr)"
                              : " = blr " + fmt::format("{:.4g}", c.optim.blr) + " x " +
                                    std::to_string(global_batch) + " / 256",
               c.schedule.kind);

  // ---- resume
  checkpoint::CheckpointStore store(run_dir, c.checkpoint);
  const auto signature = model_signature(c, bm);
  dist::check_same_signature(*comm, signature);
  Progress pos;
  std::vector<std::string> report;
  if (auto from = checkpoint::resolve_resume(c.checkpoint, run_dir, &report)) {
    for (const auto& r : report) spdlog::warn("checkpoint: {}", r);
    auto ck = checkpoint::load_checkpoint(*from, /*load_optimizer=*/true);
    checkpoint::check_compatible(ck.signature, signature);
    const int64_t saved_batch = ck.state.value("global_batch", int64_t{0});
    if (saved_batch != global_batch)
      throw CheckpointError(from->string() + ": saved with global batch " +
                                std::to_string(saved_batch) + ", this config has " +
                                std::to_string(global_batch),
                            "keep data.batch_size x trainer.grad_accum x ranks unchanged to "
                            "resume, or set checkpoint.resume: never");
    load_trainable_tensors(bm, ck.model, from->string());
    optimizer.load_state_dict(ck.optimizer);
    pos.step = ck.state.at("step").get<int64_t>();
    pos.epoch = ck.state.at("epoch").get<int64_t>();
    pos.cursor = ck.state.at("cursor").get<int64_t>();
    pos.bad_steps = ck.state.value("bad_steps", int64_t{0});
    // Per-rank RNG states; a run resumed on more ranks seeds the extra ones from their own init.
    if (ck.state.contains("rng")) {
      const auto& rng = ck.state.at("rng");
      if (rng.is_array() && rank < static_cast<int64_t>(rng.size()))
        checkpoint::restore_rng_state(rng.at(static_cast<size_t>(rank)));
      else if (rng.is_object() && world == 1)
        checkpoint::restore_rng_state(rng);
    }
    const int64_t saved_world = ck.state.value("world_size", int64_t{1});
    if (saved_world != world)
      spdlog::warn("resuming a {}-rank run on {} ranks (global batch {} kept; the sample order "
                   "continues from global sample {})",
                   saved_world, world, global_batch, pos.cursor);
    result.resumed_from = pos.step;
    spdlog::info("resumed from {} at step {} (epoch {}, sample {} of the epoch)",
                 from->string(), pos.step, pos.epoch, pos.cursor);
  } else {
    for (const auto& r : report) spdlog::warn("checkpoint: {}", r);
  }

  StepLoggerOptions so;
  so.run_dir = run_dir.string();
  so.total_steps = total;
  so.tensorboard = c.trainer.tensorboard;
  so.progress_bar = c.trainer.progress_bar;
  so.device = bm.device;
  so.peak_flops = peak_flops_for(device_name(bm.device), bm.frozen_dtype);
  so.flops_per_token = model_flops_per_token(c, bm, c.data.max_words);
  so.writer = writer;
  so.world_size = world;
  so.reference_loss = c.trainer.loss_norm == "reference";
  if (world > 1) so.sum_over_ranks = [&](std::vector<double> v) { return comm->sum(std::move(v)); };
  StepLogger log(so);
  if (pos.step > 0) log.record("resume", pos.step, {{"epoch", pos.epoch}, {"cursor", pos.cursor}});

  // Collective: every rank gathers its RNG state, rank 0 writes, all wait at the barrier.
  auto save = [&](const std::string& why) {
    for (const auto& p : params)  // identical on every rank, so every rank throws together
      if (!at::isfinite(p.param).all().item<bool>())
        throw Error("train", "refusing to checkpoint non-finite weights (" + p.name + ") at step " +
                                 std::to_string(pos.step),
                    "the previous checkpoint is intact; lower the learning rate");
    std::map<std::string, at::Tensor> optimizer_state;
    if (c.checkpoint.save_optimizer)  // collective under ZeRO-1: the shards meet on rank 0
      optimizer_state = dp.optimizer_state(optimizer);
    nlohmann::json rngs = nlohmann::json::array();
    for (const auto& s : comm->all_gather_strings(checkpoint::capture_rng_state().dump()))
      rngs.push_back(nlohmann::json::parse(s));
    if (!writer) {
      comm->barrier();
      return;
    }
    checkpoint::CheckpointContents ck;
    for (const auto& p : params) ck.model.emplace(p.name, p.param.detach());
    if (c.checkpoint.save_optimizer) ck.optimizer = std::move(optimizer_state);
    ck.state = {{"step", pos.step},        {"epoch", pos.epoch},
                {"cursor", pos.cursor},    {"bad_steps", pos.bad_steps},
                {"global_batch", global_batch}, {"world_size", world},
                {"total_steps", total},    {"reason", why},
                {"rng", rngs}};
    ck.resolved_config = resolved_yaml;
    ck.signature = signature;
    auto dir = store.save(pos.step, ck);
    result.checkpoint = dir.string();
    spdlog::info("checkpoint {} ({})", dir.string(), why);
    comm->barrier();
  };
  auto run_eval = [&]() -> std::optional<EvalResult> {
    if (c.data.val_sources.empty()) return std::nullopt;
    auto r = evaluate(model, c, tokenizer, "val", c.trainer.eval_max_batches, comm.get());
    spdlog::info("eval step {} | val loss {:.4f} | ppl {:.3f} | {} tokens, {} samples", pos.step,
                 r.loss, r.ppl, r.tokens, r.samples);
    log.record("eval", pos.step, r.to_json());
    return r;
  };

  // ---- loop
  checkpoint::StopSignalGuard stop_guard;
  // Every rank must stop at the same step: the flag is max-reduced once per step.
  bool stop = false;
  auto poll_stop = [&] {
    stop = comm->max(checkpoint::stop_requested() ? 1.0 : 0.0) > 0.0;
    return stop;
  };
  double last_lr = 0.0;
  bool overlap_reported = false;
  while (pos.step < total && !stop) {
    loader.start_epoch(pos.epoch, pos.cursor);
    bool epoch_done = false;
    while (pos.step < total && !poll_stop()) {
      const auto t0 = Clock::now();
      std::vector<data::Batch> micro;
      double wait = 0.0;
      for (int64_t k = 0; k < accum; ++k) {
        const auto w0 = Clock::now();
        auto b = loader.next();
        wait += seconds_since(w0);
        if (!b) break;
        micro.push_back(std::move(*b));
      }
      if (static_cast<int64_t>(micro.size()) < accum) {  // end of epoch; a partial step is dropped
        epoch_done = true;
        break;
      }
      last_lr = schedule(pos.step);
      auto st = step_fn.run(micro, last_lr);
      ++pos.step;
      pos.cursor = micro.back().cursor;
      if (!overlap_reported && dp.grad_sync() && dp.grad_sync()->overlapping()) {
        overlap_reported = true;  // once per process: how much of the sync the hooks started
        const size_t started = dp.grad_sync()->started_in_backward(), n = dp.grad_sync()->num_buckets();
        if (started == 0 && n > 1)
          spdlog::warn("gradient sync: no bucket could start during backward (a parameter in the "
                       "first bucket got no gradient); the all-reduce ran after backward");
        else
          spdlog::info("gradient sync: {} of {} buckets started during backward", started, n);
      }
      if (!st.finite) {
        ++pos.bad_steps;
        std::ostringstream ids;
        for (size_t i = 0; i < st.indices.size() && i < 16; ++i) ids << (i ? "," : "") << st.indices[i];
        spdlog::warn("step {}: non-finite loss {} / grad norm {}; update skipped ({} in a row); "
                     "samples [{}]",
                     pos.step, st.loss, st.grad_norm, pos.bad_steps, ids.str());
        log.record("skip", pos.step, {{"loss_finite", false}, {"grad_norm_finite", std::isfinite(st.grad_norm)}});
        if (pos.bad_steps >= c.trainer.max_bad_steps)
          throw Error("train",
                      std::to_string(pos.bad_steps) + " consecutive non-finite steps (last at " +
                          "step " + std::to_string(pos.step) + ", grad norm " +
                          std::to_string(st.grad_norm) + ", dataset indices " + ids.str() + ")",
                      "lower optim.blr/lr, enable optim.clip_grad_norm, or inspect those samples; "
                      "the last checkpoint holds finite weights");
      } else {
        pos.bad_steps = 0;
        result.last_loss = st.loss;
      }
      log.add(st, seconds_since(t0), wait);
      if (pos.step % c.trainer.log_every == 0 || pos.step == total)
        log.emit(pos.step, pos.epoch, last_lr, loader.stats().skipped, pos.bad_steps);
      if (c.trainer.eval_every > 0 && pos.step % c.trainer.eval_every == 0 && pos.step < total)
        run_eval();
      if (store.due(pos.step) && pos.step < total) save("every_steps");
    }
    if (epoch_done) {
      ++pos.epoch;
      pos.cursor = 0;
    }
  }
  log.emit(pos.step, pos.epoch, last_lr, loader.stats().skipped, pos.bad_steps);
  result.steps = pos.step;
  if (world > 1)  // each rank holds its share of the last step's loss
    result.last_loss = comm->sum(result.last_loss) /
                       (c.trainer.loss_norm == "reference" ? static_cast<double>(world) : 1.0);
  if (stop) {
    result.stop_signal = checkpoint::stop_signal() ? checkpoint::stop_signal() : SIGTERM;
    save(result.stop_signal == SIGTERM ? "SIGTERM" : "SIGINT");
    log.finish();
    return result;
  }
  result.eval = run_eval();
  save("end");
  log.finish();
  return result;
}

}  // namespace ibllm::train
