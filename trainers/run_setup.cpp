// load_run / setup_run; see run_setup.h.
#include "trainers/run_setup.h"

#include <filesystem>

#include <spdlog/spdlog.h>

#include "data/tokenizer.h"
#include "src/core/error.h"
#include "src/core/logging.h"
#include "src/core/runtime_info.h"
#include "trainers/device_stats.h"

namespace ibllm::train {

RunSetup load_run(const RunTarget& target) {
  namespace fs = std::filesystem;
  RunSetup r;
  r.config_path = target.path;
  r.checkpoint = target.checkpoint;
  if (fs::is_directory(target.path)) {
    const auto cfg = fs::path(target.path) / "config.yaml";
    if (!fs::exists(cfg))
      throw UsageError(target.path + " is a directory without config.yaml",
                       "pass a YAML config, or a checkpoint directory (runs/<name>/checkpoints/"
                       "step_N)");
    r.config_path = cfg.string();
    if (r.checkpoint.empty()) r.checkpoint = target.path;
  }
  r.config = load_run_config(r.config_path, target.overrides, &r.resolved_yaml, target.checks);
  core::LogOptions lo;
  lo.level = r.config.run.log_level;
  core::init_logging(lo);
  return r;
}

RunSetup setup_run(const RunTarget& target, const SetupOptions& o) {
  RunSetup r = load_run(target);
  const RunConfig& c = r.config;
  if (o.check_config) o.check_config(c);
  // Ranks from the launcher (torchrun, Slurm, launch/local.sh) or a single process; the logger
  // then prefixes "[rank N]" and quiets the other ranks.
  r.env = dist::detect_dist_env(c.dist);
  core::LogOptions lo;
  lo.rank = static_cast<int>(r.env.rank);
  lo.world_size = static_cast<int>(r.env.world_size);
  lo.level = c.run.log_level;
  core::init_logging(lo);
  r.device = select_device(o.device.value_or(c.run.device), r.env.local_rank);
  r.threads = core::configure_threads(c.run.threads);
  if (r.device.is_cpu() && core::blas_library() == "reference")
    spdlog::warn("LibTorch uses the reference (netlib) BLAS: CPU matmuls run ~7x slower; "
                 "install an optimised one (Debian: apt-get install libopenblas0-pthread)");
  if (o.communicator)
    r.comm = dist::make_communicator(r.env, c.dist, r.device, o.bench && c.bench.grad_sync);
  r.model = build_model(c, r.device, /*force_random_base=*/o.bench);
  if (!o.load_checkpoint) r.checkpoint.clear();
  if (!r.checkpoint.empty()) {
    r.weights = load_trained_weights(r.model, r.checkpoint, c.model.init.allow_missing);
    spdlog::info("weights: {}", r.weights);
  }
  if (o.tokenizer && !o.bench) r.tokenizer = std::make_shared<const data::LlamaTokenizer>(c.data.tokenizer);
  return r;
}

}  // namespace ibllm::train
