// Interval metrics; see step_logger.h.
#include "trainers/step_logger.h"

#include <cmath>
#include <cstdio>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "src/core/error.h"
#include "trainers/device_stats.h"

namespace ibllm::train {

StepLogger::StepLogger(StepLoggerOptions o) : o_(std::move(o)) {
  if (!o_.writer) return;
  metrics_ = std::make_unique<core::MetricsWriter>(
      (std::filesystem::path(o_.run_dir) / "metrics.jsonl").string());
  if (o_.tensorboard)
    tb_ = std::make_unique<core::TensorBoardWriter>(
        (std::filesystem::path(o_.run_dir) / "tb").string());
  if (o_.progress_bar) bar_ = std::make_unique<core::ProgressBar>(o_.total_steps);
}

void StepLogger::add(const StepStats& s, double step_seconds, double wait_seconds) {
  if (s.finite) {
    loss_tokens_ += s.loss * static_cast<double>(s.tokens);
    tokens_ += static_cast<double>(s.tokens);
    loss_plain_ += s.loss;
    ++finite_;
  }
  ++steps_;
  samples_ += s.samples;
  seen_ += s.tokens_seen;
  seconds_ += step_seconds;
  wait_ += wait_seconds;
  grad_norm_ = s.grad_norm;
}

void StepLogger::emit(int64_t step, int64_t epoch, double lr, int64_t skipped_samples,
                      int64_t bad_steps) {
  if (steps_ == 0) return;
  if (o_.sum_over_ranks && o_.world_size > 1) {
    // Every rank's share of the loss (tokens mode: Σ local CE / global tokens, which sums to the
    // global loss), and the skipped-sample counts; tokens are already global.
    auto v = o_.sum_over_ranks({loss_tokens_, loss_plain_, static_cast<double>(skipped_samples)});
    const double div = o_.reference_loss ? static_cast<double>(o_.world_size) : 1.0;
    loss_tokens_ = v[0] / div;
    loss_plain_ = v[1] / div;
    skipped_samples = static_cast<int64_t>(v[2]);
  }
  if (!o_.writer) {
    reset_interval();
    return;
  }
  const double loss = tokens_ > 0 ? loss_tokens_ / tokens_
                                  : (finite_ > 0 ? loss_plain_ / static_cast<double>(finite_) : NAN);
  total_seconds_ += seconds_;
  total_logged_steps_ += steps_;
  const double step_ms = 1e3 * seconds_ / static_cast<double>(steps_);
  const double tok_s = seconds_ > 0 ? static_cast<double>(seen_) / seconds_ : 0.0;
  const double samp_s = seconds_ > 0 ? static_cast<double>(samples_) / seconds_ : 0.0;
  const double avg_step = total_seconds_ / static_cast<double>(total_logged_steps_);
  const double eta = avg_step * static_cast<double>(std::max<int64_t>(o_.total_steps - step, 0));
  const double peak_gib = static_cast<double>(peak_memory_bytes(o_.device)) / (1024.0 * 1024 * 1024);
  nlohmann::json r = {{"kind", "train"},
                      {"step", step},
                      {"epoch", epoch},
                      {"loss", loss},
                      {"ppl", std::exp(loss)},
                      {"lr", lr},
                      {"grad_norm", grad_norm_},
                      {"tokens", static_cast<int64_t>(tokens_)},
                      {"tokens_per_s", tok_s},
                      {"samples_per_s", samp_s},
                      {"step_ms", step_ms},
                      {"data_wait_ms", 1e3 * wait_ / static_cast<double>(steps_)},
                      {"peak_mem_gib", peak_gib},
                      {"skipped_samples", skipped_samples},
                      {"bad_steps", bad_steps},
                      {"eta_s", eta}};
  std::string mfu_text;
  if (o_.flops_per_token > 0 && o_.peak_flops > 0 && seconds_ > 0) {
    const double mfu = o_.flops_per_token * tok_s / o_.peak_flops;
    r["mfu"] = mfu;
    char b[32];
    std::snprintf(b, sizeof b, " | mfu %.1f%%", 100.0 * mfu);
    mfu_text = b;
  }
  metrics_->write(r);
  if (tb_) {
    for (const char* k : {"loss", "ppl", "lr", "grad_norm", "tokens_per_s", "samples_per_s",
                          "step_ms", "data_wait_ms", "peak_mem_gib"})
      if (r[k].is_number() && std::isfinite(r[k].get<double>()))
        tb_->add_scalar(std::string("train/") + k, r[k].get<double>(), step);
    if (r.contains("mfu")) tb_->add_scalar("train/mfu", r["mfu"].get<double>(), step);
    tb_->flush();
  }
  if (bar_ && bar_->enabled()) {
    char b[96];
    std::snprintf(b, sizeof b, "loss %.4f lr %.2e", loss, lr);
    bar_->update(step, b);
  } else {
    spdlog::info("step {}/{} | loss {:.4f} | lr {:.3e} | grad {:.3f} | {:.0f} tok/s | {:.0f} ms"
                 "{} | wait {:.0f} ms | eta {:.0f}s",
                 step, o_.total_steps, loss, lr, grad_norm_, tok_s, step_ms, mfu_text,
                 1e3 * wait_ / static_cast<double>(steps_), eta);
  }
  reset_interval();
}

void StepLogger::reset_interval() {
  loss_tokens_ = tokens_ = loss_plain_ = 0.0;
  steps_ = samples_ = seen_ = finite_ = 0;
  seconds_ = wait_ = 0.0;
}

nlohmann::json StepLogger::interval_state() const {
  return {{"loss_tokens", loss_tokens_}, {"tokens", tokens_},   {"loss_plain", loss_plain_},
          {"steps", steps_},             {"samples", samples_}, {"seen", seen_},
          {"finite", finite_},           {"seconds", seconds_}, {"wait", wait_},
          // JSON has no NaN: a non-finite norm (a skipped step) is written as null
          {"grad_norm", std::isfinite(grad_norm_) ? nlohmann::json(grad_norm_) : nlohmann::json()}};
}

void StepLogger::restore_interval(const nlohmann::json& j, const std::string& origin) {
  try {
    loss_tokens_ = j.at("loss_tokens").get<double>();
    tokens_ = j.at("tokens").get<double>();
    loss_plain_ = j.at("loss_plain").get<double>();
    steps_ = j.at("steps").get<int64_t>();
    samples_ = j.at("samples").get<int64_t>();
    seen_ = j.at("seen").get<int64_t>();
    finite_ = j.at("finite").get<int64_t>();
    seconds_ = j.at("seconds").get<double>();
    wait_ = j.at("wait").get<double>();
    const auto& g = j.at("grad_norm");
    grad_norm_ = g.is_null() ? std::nan("") : g.get<double>();
  } catch (const nlohmann::json::exception& e) {
    reset_interval();
    throw CheckpointError(origin + ": 'log_interval' is malformed: " + e.what(),
                          "resume from an older checkpoint (checkpoint.resume: <dir>)");
  }
}

void StepLogger::record(const std::string& kind, int64_t step, const nlohmann::json& values) {
  if (!o_.writer) return;
  nlohmann::json r = {{"kind", kind}, {"step", step}};
  for (auto it = values.begin(); it != values.end(); ++it) r[it.key()] = it.value();
  metrics_->write(r);
  if (tb_) {
    for (auto it = values.begin(); it != values.end(); ++it)
      if (it.value().is_number()) tb_->add_scalar(kind + "/" + it.key(), it.value().get<double>(), step);
    tb_->flush();
  }
}

void StepLogger::finish() {
  if (bar_) bar_->finish();
}

}  // namespace ibllm::train
