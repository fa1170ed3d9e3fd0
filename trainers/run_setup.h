// One run, set up the same way for every command (train, eval, bench, generate, export): the
// config (a YAML file, or a checkpoint directory holding its config.yaml, plus --set overrides),
// the ranks and logging, the device and CPU threads, the process group (when asked), the model
// (built, initialised by model.init, trained weights loaded) and the tokenizer. Commands parse
// their arguments, call setup_run once and then do only their own work on the result.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "src/distributed/communicator.h"
#include "src/distributed/dist_env.h"
#include "trainers/model_builder.h"
#include "trainers/run_config.h"

namespace ibllm::data {
class LlamaTokenizer;
}

namespace ibllm::train {

// What to run: a YAML config, or a checkpoint directory (its config.yaml; it is then also the
// checkpoint unless `checkpoint` names another).
struct RunTarget {
  std::string path;
  std::string checkpoint;               // trained weights: checkpoint dir, export, 7B.pth
  std::vector<std::string> overrides;   // --set key.path=value
  Checks checks = Checks::kSyntax;
};

struct SetupOptions {
  // ibllm bench: random frozen weights (no weight file is read), no tokenizer, and with
  // `communicator` bench.grad_sync makes a real process group even for one process.
  bool bench = false;
  bool load_checkpoint = true;       // load RunTarget::checkpoint (or the directory) onto the model
  bool tokenizer = true;             // load data.tokenizer
  bool communicator = false;         // train, bench: the process group (one process: no-op local)
  std::optional<RunDevice> device;   // overrides run.device (export runs on the CPU)
  // Runs on the parsed config before anything is built, so a command's own options that depend on
  // it (generate's sampling flags over generation.*) fail fast; throws to stop the setup.
  std::function<void(const RunConfig&)> check_config;
};

struct RunSetup {
  RunConfig config;
  std::string resolved_yaml;  // the complete effective config (written into run dirs)
  std::string config_path;    // the YAML actually read
  std::string checkpoint;     // the trained weights loaded onto the model ("" = model.init only)
  dist::DistEnv env;          // rank / world size from the launcher (single process: 0 / 1)
  std::unique_ptr<dist::Communicator> comm;  // SetupOptions::communicator only
  at::Device device = at::kCPU;
  int threads = 0;            // intra-op CPU threads in use
  BuiltModel model;
  std::string weights;        // what was loaded from `checkpoint` (one line), or ""
  std::shared_ptr<const data::LlamaTokenizer> tokenizer;  // SetupOptions::tokenizer only
};

// The config alone (no model): parsed with the target's overrides; logging started at
// run.log_level. `path` may be a checkpoint directory (see RunTarget).
RunSetup load_run(const RunTarget& target);
// load_run, then everything SetupOptions asks for, in this order: ranks and logging, device,
// threads, process group, model and weights, tokenizer.
RunSetup setup_run(const RunTarget& target, const SetupOptions& options = {});

}  // namespace ibllm::train
