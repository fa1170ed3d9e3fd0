// RunConfig: the one typed aggregate a run is built from. parse_run_config() is the only place that
// turns a config Document into structs (each component parses its own section); later layers see
// only these structs. Sections are added here as components land (model, data, trainer, ...).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/data_config.h"
#include "models/bind/bind_config.h"
#include "models/imagebind/imagebind_config.h"
#include "models/imagebind_llm_config.h"
#include "models/cache/visual_cache_config.h"
#include "models/trainable.h"
#include "models/llama/config.h"
#include "src/checkpoint/checkpoint_config.h"
#include "src/config/document.h"
#include "src/core/logging.h"
#include "src/distributed/dist_config.h"
#include "trainers/lr_schedule.h"
#include "trainers/optim_config.h"
#include "trainers/trainer_config.h"

namespace ibllm::train {

struct RunSection {
  std::string name = "run";
  std::string output_dir = "runs";  // the run directory is <output_dir>/<name>
  int64_t seed = 0;
  // trace debug info warn error off (IBLLM_LOG_LEVEL overrides)
  spdlog::level::level_enum log_level = spdlog::level::info;
  int threads = 0;                  // intra-op CPU threads; 0 = all cores
  RunDevice device = RunDevice::kAuto;  // auto (cuda if available) | cpu | cuda
};

// The frozen towers, the bind network, what trains and where the weights come from.
struct ModelConfig {
  models::LlamaConfig llama;
  models::ImageBindConfig imagebind;
  models::BindConfig bind;
  models::MixingConfig mixing;
  int64_t query_layer = 0;  // layers (from the top) receiving the visual injection; 0 = all
  models::TrainableConfig trainable;
  models::ModelInitConfig init;
  models::VisualCacheConfig cache;  // inference only (`ibllm generate`)
  bool build_imagebind = true;  // derived: false when every data source uses cached features

  models::ImageBindLlmConfig arch() const;
};

struct RunConfig {
  RunSection run;
  ModelConfig model;
  data::DataConfig data;
  OptimConfig optim;
  ScheduleConfig schedule;
  TrainerConfig trainer;
  checkpoint::CheckpointConfig checkpoint;
  dist::DistConfig dist;
  BenchConfig bench;
  models::GenerationConfig generation;  // `generation:` sampling defaults of `ibllm generate`
};

RunSection parse_run_section(config::Section s);
// What parse_run_config checks beyond the YAML itself.
enum class Checks {
  kSyntax,     // types, ranges, cross-section consistency (no file access)
  kResources,  // also: data files exist, the tokenizer loads and its vocabulary fits the model
};

// Parses every section; throws one ConfigError listing all problems (unknown keys included).
RunConfig parse_run_config(config::Document& doc, Checks checks = Checks::kSyntax);
// Convenience: load + parse; `resolved_yaml` (optional) receives the resolved config text.
RunConfig load_run_config(const std::string& path, const std::vector<std::string>& overrides,
                          std::string* resolved_yaml = nullptr, Checks checks = Checks::kSyntax);

}  // namespace ibllm::train
