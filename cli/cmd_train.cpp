// `ibllm train <config.yaml> [--set k=v ...]`: the training loop (trainers/trainer). Prints one
// JSON summary line on stdout at the end; logs go to stderr. Exit 0 when done, 128+signal when
// stopped by SIGTERM/SIGINT after saving a checkpoint (run the same command again to resume).
#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "src/core/error.h"
#include "trainers/run_setup.h"
#include "trainers/trainer.h"

namespace ibllm::cli {

int cmd_train(const std::vector<std::string>& argv, std::ostream& out) {
  const std::string usage = "ibllm train <config.yaml> [--set key.path=value ...]";
  auto args = parse_args(argv, ArgSpec{{}, {"--set"}, {}}, usage);
  if (args.positionals.size() != 1) throw UsageError("expected exactly one config file", usage);
  train::SetupOptions so;
  so.communicator = true;
  so.load_checkpoint = false;  // a run resumes from its own checkpoints (checkpoint.resume)
  auto run = train::setup_run({args.positionals[0], "", args.all("--set"), train::Checks::kResources}, so);
  auto r = train::train(run);
  nlohmann::json j = {{"run_dir", r.run_dir},   {"steps", r.steps},
                      {"resumed_from", r.resumed_from}, {"loss", r.last_loss},
                      {"checkpoint", r.checkpoint}};
  if (r.eval) j["val"] = r.eval->to_json();
  if (r.stop_signal) j["stopped_by_signal"] = r.stop_signal;
  if (r.failed_saves) j["failed_saves"] = r.failed_saves;
  out << j.dump() << "\n";
  return r.stop_signal ? 128 + r.stop_signal : 0;
}

}  // namespace ibllm::cli
