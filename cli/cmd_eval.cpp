// `ibllm eval <config.yaml | checkpoint dir> [--checkpoint <dir|file>] [--split val|train]
// [--max-batches N] [--set ...]`: loss and perplexity of trained weights; a human line on stderr
// and a final JSON line {"loss", "ppl", "tokens", "samples", ...} on stdout.
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "src/core/error.h"
#include "trainers/evaluator.h"
#include "trainers/run_setup.h"

namespace ibllm::cli {

int cmd_eval(const std::vector<std::string>& argv, std::ostream& out) {
  const std::string usage =
      "ibllm eval <config.yaml | checkpoint dir> [--checkpoint <dir|file>] [--split val|train] "
      "[--max-batches N] [--set key.path=value ...]\n"
      "  without --checkpoint (and with a YAML) the model is evaluated as model.init builds it";
  auto args = parse_args(argv, ArgSpec{{"--checkpoint", "--split", "--max-batches"}, {"--set"}, {}},
                         usage);
  if (args.positionals.size() != 1) throw UsageError("expected one config or checkpoint", usage);
  const int64_t max_batches = int_flag(args, "--max-batches", 0, 0, usage);
  const std::string split = args.value("--split").value_or("val");
  auto run = train::setup_run({args.positionals[0], args.value("--checkpoint").value_or(""),
                               args.all("--set"), train::Checks::kResources});
  auto r = train::evaluate(*run.model.model, run.config, run.tokenizer, split, max_batches);
  spdlog::info("{} loss {:.4f} | ppl {:.3f} | {} tokens | {} samples", split, r.loss, r.ppl,
               r.tokens, r.samples);
  auto j = r.to_json();
  j["split"] = split;
  j["checkpoint"] = run.checkpoint;
  out << j.dump() << "\n";
  return 0;
}

}  // namespace ibllm::cli
