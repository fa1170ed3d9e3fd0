// The training loop; see trainer.h. One class whose methods read in the order a run happens: the
// constructor sets up (run directory, data, optimizer), then plan, resume, loop and finish. The
// ranks, device, process group, model and tokenizer come ready from setup_run; world size 1 is the
// same code path with a no-op communicator.
#include "trainers/trainer.h"

#include <chrono>
#include <cmath>
#include <csignal>
#include <exception>
#include <filesystem>
#include <memory>
#include <sstream>

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include "data/dataset.h"
#include "data/loader.h"
#include "data/tokenizer.h"
#include "src/checkpoint/checkpoint_store.h"
#include "src/checkpoint/compatibility.h"
#include "src/checkpoint/resume.h"
#include "src/checkpoint/rng_state.h"
#include "src/checkpoint/stop_signal.h"
#include "src/checkpoint/training_state.h"
#include "src/checkpoint/checkpoint_meta.h"
#include "src/core/choice_table.h"
#include "src/core/error.h"
#include "src/distributed/communicator.h"
#include "src/distributed/param_sync.h"
#include "src/io/durable_file.h"
#include "trainers/data_parallel.h"
#include "trainers/device_stats.h"
#include "trainers/flops.h"
#include "trainers/lr_schedule.h"
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

class Trainer {
 public:
  explicit Trainer(RunSetup& run);
  TrainResult run();

 private:
  void print_plan() const;
  void resume();
  void start_logger();
  void loop();
  void after_step(const StepStats& st);
  void finish();
  // Collective: every rank gathers its RNG state, rank 0 writes, all wait at the barrier.
  void save(const std::string& why);
  std::optional<EvalResult> run_eval();
  // This rank's damaged samples skipped in the steps so far, counted across resumes.
  int64_t skipped_samples() const { return skipped_before_ + loader_->stats().skipped; }
  bool poll_stop();  // every rank must stop at the same step: the flag is max-reduced per step

  RunSetup& run_;
  const RunConfig& c_;
  BuiltModel& bm_;
  dist::Communicator& comm_;
  const int64_t rank_, world_;
  const bool writer_;
  const fs::path run_dir_;
  TrainResult result_;

  std::shared_ptr<const data::Dataset> dataset_;
  std::unique_ptr<data::DataLoader> loader_;
  int64_t accum_ = 1, micro_per_epoch_ = 0, steps_per_epoch_ = 0, total_ = 0, global_batch_ = 0;
  double peak_lr_ = 0.0;
  LrSchedule schedule_;
  std::vector<NamedParameter> params_;
  std::unique_ptr<DataParallel> dp_;
  std::unique_ptr<AdamW> optimizer_;
  std::unique_ptr<TrainStep> step_fn_;
  std::unique_ptr<checkpoint::CheckpointStore> store_;
  nlohmann::json signature_;
  std::unique_ptr<StepLogger> log_;

  Progress pos_;
  nlohmann::json resumed_interval_;  // this rank's unlogged metric sums from the checkpoint
  int64_t skipped_before_ = 0;       // this rank's skipped samples in the steps before the resume
  bool stop_ = false;
  double last_lr_ = 0.0;
  bool overlap_reported_ = false;
};

dist::Communicator& communicator_of(RunSetup& run) {
  if (!run.comm)
    throw Error("train", "the run was set up without a process group",
                "call setup_run with SetupOptions::communicator = true");
  return *run.comm;
}

Trainer::Trainer(RunSetup& run)
    : run_(run),
      c_(run.config),
      bm_(run.model),
      comm_(communicator_of(run)),
      rank_(comm_.rank()),
      world_(comm_.world_size()),
      writer_(rank_ == 0),
      run_dir_(fs::path(run.config.run.output_dir) / run.config.run.name) {
  if (!run_.tokenizer)
    throw Error("train", "the run was set up without a tokenizer",
                "call setup_run with SetupOptions::tokenizer = true");
  if (writer_) {
    fs::create_directories(run_dir_);
    io::replace_file_atomically(run_dir_ / "config.resolved.yaml", run_.resolved_yaml);
  }
  comm_.barrier();
  result_.run_dir = run_dir_.string();

  // ---- data: this rank's shard of the sample order, grad_accum micro-batches per step
  dataset_ = std::make_shared<const data::Dataset>(c_.data, static_cast<uint64_t>(c_.run.seed));
  data::LoaderOptions lo;
  lo.seed = static_cast<uint64_t>(c_.run.seed);
  lo.world_size = world_;
  lo.rank = rank_;
  lo.device_is_cuda = bm_.device.is_cuda();
  loader_ = std::make_unique<data::DataLoader>(c_.data, dataset_, run_.tokenizer, lo);
  accum_ = c_.trainer.grad_accum;
  micro_per_epoch_ = loader_->sampler().batches_per_epoch();
  steps_per_epoch_ = micro_per_epoch_ / accum_;
  if (steps_per_epoch_ == 0)
    throw ConfigError("an epoch has " + std::to_string(micro_per_epoch_) +
                          " batches, fewer than trainer.grad_accum " + std::to_string(accum_),
                      "lower data.batch_size or trainer.grad_accum, or add data");
  total_ = c_.trainer.max_steps > 0 ? c_.trainer.max_steps : c_.trainer.epochs * steps_per_epoch_;
  global_batch_ = c_.data.batch_size * accum_ * world_;

  // ---- optimizer: the LR schedule is a pure function of the step. Same starting weights on every
  // rank (rank 0's), gradient sync, and ZeRO-1: this rank keeps the Adam state of its shard only.
  peak_lr_ = effective_lr(c_.optim, global_batch_);
  schedule_ = make_schedule(c_.schedule, peak_lr_, total_, static_cast<double>(steps_per_epoch_));
  params_ = bm_.trainable_parameters();
  dp_ = std::make_unique<DataParallel>(comm_, params_, c_.dist);
  optimizer_ = std::make_unique<AdamW>(params_, c_.optim, dp_->owned());
  step_fn_ = std::make_unique<TrainStep>(*bm_.model, params_, *optimizer_, c_.trainer, c_.optim,
                                         dp_->step_sync());
  store_ = std::make_unique<checkpoint::CheckpointStore>(run_dir_, c_.checkpoint);
  signature_ = model_signature(c_, bm_);
}

TrainResult Trainer::run() {
  print_plan();
  resume();
  start_logger();
  checkpoint::StopSignalGuard stop_guard;  // SIGTERM/SIGINT set a flag until the final save
  loop();
  finish();
  return result_;
}

void Trainer::print_plan() const {
  int64_t all_params = 0;
  for (const auto& p : bm_.model->parameters()) all_params += p.numel();
  spdlog::info("run {} on {} ({}, frozen {}, trainable fp32), {} intra-op threads; rank {} of {} "
               "({}, backend {})",
               run_dir_.string(), device_name(bm_.device), bm_.device.str(),
               c10::toString(bm_.frozen_dtype), run_.threads, rank_, world_, run_.env.source,
               comm_.backend());
  spdlog::info("weights:\n{}", bm_.init_summary);
  spdlog::info("parameters: {} total, {} trainable ({}), {} frozen; trainable set '{}':\n{}",
               count(all_params), count(bm_.trainable.trainable_params),
               bm_.trainable.names.size(), count(bm_.trainable.frozen_params),
               core::choice_name(models::trainable_preset_names(), c_.model.trainable.preset),
               bm_.trainable.summary);
  spdlog::info("optimizer: {}", optimizer_->summary());
  if (dp_->active()) spdlog::info("{}", dp_->describe());
  spdlog::info("data: {} samples, {} batches/epoch of {} per rank; grad_accum {} -> effective "
               "batch {} ({} ranks)",
               dataset_->size(), micro_per_epoch_, c_.data.batch_size, accum_, global_batch_,
               world_);
  spdlog::info("schedule: {} steps ({} per epoch), peak lr {:.4g}{}, {} warm-up", total_,
               steps_per_epoch_, peak_lr_,
               c_.optim.lr > 0 ? " (optim.lr)"
                               : " = blr " + fmt::format("{:.4g}", c_.optim.blr) + " x " +
                                     std::to_string(global_batch_) + " / 256",
               c_.schedule.kind);
}

void Trainer::resume() {
  dist::check_same_signature(comm_, signature_);
  std::vector<std::string> report;
  const auto from = checkpoint::resolve_resume(c_.checkpoint, run_dir_, &report);
  for (const auto& r : report) spdlog::warn("checkpoint: {}", r);
  if (!from) return;
  auto ck = checkpoint::load_checkpoint(*from, /*load_optimizer=*/true);
  checkpoint::check_compatible(ck.signature, signature_);
  const auto state =
      checkpoint::parse_training_state(ck.state, (*from / checkpoint::kStateFile).string());
  const int64_t saved_batch = state.global_batch;
  if (saved_batch != global_batch_)
    throw CheckpointError(from->string() + ": saved with global batch " +
                              std::to_string(saved_batch) + ", this config has " +
                              std::to_string(global_batch_),
                          "keep data.batch_size x trainer.grad_accum x ranks unchanged to "
                          "resume, or set checkpoint.resume: never");
  load_trainable_tensors(bm_, ck.model, from->string());
  optimizer_->load_state_dict(ck.optimizer);
  pos_.step = state.step;
  pos_.epoch = state.epoch;
  pos_.cursor = state.cursor;
  pos_.bad_steps = state.bad_steps;
  // Per-rank RNG states; a run resumed on more ranks seeds the extra ones from their own init.
  const auto& rng = state.rng;
  if (rng.is_array() && rank_ < static_cast<int64_t>(rng.size()))
    checkpoint::restore_rng_state(rng.at(static_cast<size_t>(rank_)));
  else if (rng.is_object() && world_ == 1)
    checkpoint::restore_rng_state(rng);
  const int64_t saved_world = state.world_size;
  if (saved_world == world_ && rank_ < static_cast<int64_t>(state.log_interval.size()))
    resumed_interval_ = state.log_interval.at(static_cast<size_t>(rank_));
  // Skipped-sample counts continue: each rank its own, or (ranks changed) the total on rank 0.
  if (saved_world == world_ && rank_ < static_cast<int64_t>(state.skipped_samples.size()))
    skipped_before_ = state.skipped_samples[static_cast<size_t>(rank_)];
  else if (saved_world != world_ && rank_ == 0)
    for (int64_t n : state.skipped_samples) skipped_before_ += n;
  if (saved_world != world_)
    spdlog::warn("resuming a {}-rank run on {} ranks (global batch {} kept; the sample order "
                 "continues from global sample {})",
                 saved_world, world_, global_batch_, pos_.cursor);
  result_.resumed_from = pos_.step;
  spdlog::info("resumed from {} at step {} (epoch {}, sample {} of the epoch)", from->string(),
               pos_.step, pos_.epoch, pos_.cursor);
}

void Trainer::start_logger() {
  StepLoggerOptions so;
  so.run_dir = run_dir_.string();
  so.total_steps = total_;
  so.tensorboard = c_.trainer.tensorboard;
  so.progress_bar = c_.trainer.progress_bar;
  so.device = bm_.device;
  so.peak_flops = peak_flops_for(device_name(bm_.device), bm_.frozen_dtype);
  so.flops_per_token = model_flops_per_token(c_, bm_, c_.data.max_words);
  so.writer = writer_;
  so.world_size = world_;
  so.reference_loss = c_.trainer.loss_norm == LossNorm::kReference;
  if (world_ > 1)
    so.sum_over_ranks = [this](std::vector<double> v) { return comm_.sum(std::move(v)); };
  log_ = std::make_unique<StepLogger>(so);
  if (resumed_interval_.is_object())
    log_->restore_interval(resumed_interval_, (run_dir_ / "checkpoints").string());
  if (pos_.step > 0)
    log_->record("resume", pos_.step, {{"epoch", pos_.epoch}, {"cursor", pos_.cursor}});
}

bool Trainer::poll_stop() {
  stop_ = comm_.max(checkpoint::stop_requested() ? 1.0 : 0.0) > 0.0;
  return stop_;
}

void Trainer::loop() {
  while (pos_.step < total_ && !stop_) {
    loader_->start_epoch(pos_.epoch, pos_.cursor);
    bool epoch_done = false;
    while (pos_.step < total_ && !poll_stop()) {
      const auto t0 = Clock::now();
      std::vector<data::Batch> micro;
      double wait = 0.0;
      for (int64_t k = 0; k < accum_; ++k) {
        const auto w0 = Clock::now();
        auto b = loader_->next();
        wait += seconds_since(w0);
        if (!b) break;
        micro.push_back(std::move(*b));
      }
      if (static_cast<int64_t>(micro.size()) < accum_) {  // end of epoch; a partial step is dropped
        epoch_done = true;
        break;
      }
      last_lr_ = schedule_(pos_.step);
      const auto st = step_fn_->run(micro, last_lr_);
      ++pos_.step;
      pos_.cursor = micro.back().cursor;
      after_step(st);
      log_->add(st, seconds_since(t0), wait);
      if (pos_.step % c_.trainer.log_every == 0 || pos_.step == total_)
        log_->emit(pos_.step, pos_.epoch, last_lr_, skipped_samples(), pos_.bad_steps);
      if (c_.trainer.eval_every > 0 && pos_.step % c_.trainer.eval_every == 0 && pos_.step < total_)
        run_eval();
      if (store_->due(pos_.step) && pos_.step < total_) save("every_steps");
    }
    if (epoch_done) {
      ++pos_.epoch;
      pos_.cursor = 0;
    }
  }
}

// Bookkeeping of one optimizer step: the one-time overlap report and the non-finite guard.
void Trainer::after_step(const StepStats& st) {
  auto* gs = dp_->grad_sync();
  if (!overlap_reported_ && gs && gs->overlapping()) {
    overlap_reported_ = true;  // once per process: how much of the sync the hooks started
    const size_t started = gs->started_in_backward(), n = gs->num_buckets();
    if (started == 0 && n > 1)
      spdlog::warn("gradient sync: no bucket could start during backward (a parameter in the "
                   "first bucket got no gradient); the all-reduce ran after backward");
    else
      spdlog::info("gradient sync: {} of {} buckets started during backward", started, n);
  }
  if (st.finite) {
    pos_.bad_steps = 0;
    result_.last_loss = st.loss;
    return;
  }
  ++pos_.bad_steps;
  std::ostringstream ids;
  for (size_t i = 0; i < st.indices.size() && i < 16; ++i) ids << (i ? "," : "") << st.indices[i];
  spdlog::warn("step {}: non-finite loss {} / grad norm {}; update skipped ({} in a row); "
               "samples [{}]",
               pos_.step, st.loss, st.grad_norm, pos_.bad_steps, ids.str());
  log_->record("skip", pos_.step,
               {{"loss_finite", false}, {"grad_norm_finite", std::isfinite(st.grad_norm)}});
  if (pos_.bad_steps >= c_.trainer.max_bad_steps)
    throw Error("train",
                std::to_string(pos_.bad_steps) + " consecutive non-finite steps (last at step " +
                    std::to_string(pos_.step) + ", grad norm " + std::to_string(st.grad_norm) +
                    ", dataset indices " + ids.str() + ")",
                "lower optim.blr/lr, enable optim.clip_grad_norm, or inspect those samples; "
                "the last checkpoint holds finite weights");
}

void Trainer::finish() {
  result_.steps = pos_.step;
  if (world_ > 1)  // each rank holds its share of the last step's loss
    result_.last_loss =
        comm_.sum(result_.last_loss) /
        (c_.trainer.loss_norm == LossNorm::kReference ? static_cast<double>(world_) : 1.0);
  if (stop_) {
    result_.stop_signal = checkpoint::stop_signal() ? checkpoint::stop_signal() : SIGTERM;
    save(result_.stop_signal == SIGTERM ? "SIGTERM" : "SIGINT");
    // The steps since the last record, logged after the checkpoint kept their sums: the resumed
    // run logs that interval again, over the same steps as an uninterrupted run would.
    log_->emit(pos_.step, pos_.epoch, last_lr_, skipped_samples(), pos_.bad_steps);
  } else {
    result_.eval = run_eval();
    save("end");
  }
  log_->finish();
}

void Trainer::save(const std::string& why) {
  for (const auto& p : params_)  // identical on every rank, so every rank throws together
    if (!at::isfinite(p.param).all().item<bool>())
      throw Error("train", "refusing to checkpoint non-finite weights (" + p.name + ") at step " +
                               std::to_string(pos_.step),
                  "the previous checkpoint is intact; lower the learning rate");
  std::map<std::string, at::Tensor> optimizer_state;
  if (c_.checkpoint.save_optimizer)  // collective under ZeRO-1: the shards meet on rank 0
    optimizer_state = dp_->optimizer_state(*optimizer_);
  // Per rank: its RNG state and its unlogged metric sums, in one gather.
  nlohmann::json rngs = nlohmann::json::array(), intervals = nlohmann::json::array();
  std::vector<int64_t> skipped;
  const nlohmann::json mine = {{"rng", checkpoint::capture_rng_state()},
                               {"log", log_->interval_state()},
                               {"skipped", skipped_samples()}};
  for (const auto& s : comm_.all_gather_strings(mine.dump())) {
    auto j = nlohmann::json::parse(s);
    rngs.push_back(std::move(j.at("rng")));
    intervals.push_back(std::move(j.at("log")));
    skipped.push_back(j.at("skipped").get<int64_t>());
  }
  // Rank 0 writes; then every rank learns whether that worked (the max-reduce is also the barrier),
  // so all ranks continue or stop together.
  std::exception_ptr write_error;
  if (writer_) {
    checkpoint::CheckpointContents ck;
    for (const auto& p : params_) ck.model.emplace(p.name, p.param.detach());
    if (c_.checkpoint.save_optimizer) ck.optimizer = std::move(optimizer_state);
    checkpoint::TrainingState state;
    state.step = pos_.step;
    state.epoch = pos_.epoch;
    state.cursor = pos_.cursor;
    state.bad_steps = pos_.bad_steps;
    state.global_batch = global_batch_;
    state.world_size = world_;
    state.total_steps = total_;
    state.reason = why;
    state.rng = std::move(rngs);
    state.log_interval = std::move(intervals);
    state.skipped_samples = std::move(skipped);
    ck.state = checkpoint::to_json(state);
    ck.resolved_config = run_.resolved_yaml;
    ck.signature = signature_;
    try {
      const auto dir = store_->save(pos_.step, ck);
      result_.checkpoint = dir.string();
      spdlog::info("checkpoint {} ({})", dir.string(), why);
    } catch (const checkpoint::CheckpointWriteError&) {
      write_error = std::current_exception();
    }
  }
  if (comm_.max(write_error ? 1.0 : 0.0) == 0.0) return;
  ++result_.failed_saves;
  if (why == "every_steps" && c_.checkpoint.on_write_error == checkpoint::OnWriteError::kContinue) {
    if (write_error) {  // the run goes on, so the error is logged here (else main prints it)
      try {
        std::rethrow_exception(write_error);
      } catch (const checkpoint::CheckpointWriteError& e) {
        spdlog::error("checkpoint: {}", e.what());
      }
    }
    spdlog::warn("checkpoint: training continues without the step {} checkpoint "
                 "(checkpoint.on_write_error: continue); the next try is at step {}",
                 pos_.step, pos_.step + c_.checkpoint.every_steps);
    return;
  }
  if (write_error) std::rethrow_exception(write_error);
  throw checkpoint::CheckpointWriteError(
      "rank 0 could not write the step " + std::to_string(pos_.step) + " checkpoint",
      "its log names the path and the error");
}

std::optional<EvalResult> Trainer::run_eval() {
  if (c_.data.val_sources.empty()) return std::nullopt;
  auto r = evaluate(*bm_.model, c_, run_.tokenizer, "val", c_.trainer.eval_max_batches, &comm_);
  spdlog::info("eval step {} | val loss {:.4f} | ppl {:.3f} | {} tokens, {} samples", pos_.step,
               r.loss, r.ppl, r.tokens, r.samples);
  log_->record("eval", pos_.step, r.to_json());
  return r;
}

}  // namespace

TrainResult train(RunSetup& run) { return Trainer(run).run(); }

}  // namespace ibllm::train
