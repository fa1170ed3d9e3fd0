// `ibllm bench <config.yaml> [--batch-sizes 4,16] [--set ...]`: training-step benchmark at the
// configured shapes with random weights (trainers/bench); one JSON line per batch size on stdout.
#include "cli/args.h"
#include "cli/commands.h"
#include "src/core/error.h"
#include "src/core/strings.h"
#include "trainers/bench.h"
#include "trainers/run_setup.h"

namespace ibllm::cli {

int cmd_bench(const std::vector<std::string>& argv, std::ostream& out) {
  const std::string usage =
      "ibllm bench <config.yaml> [--batch-sizes B1,B2,...] [--decode] [--set key.path=value ...]\n"
      "  bench.warmup_steps / bench.steps / bench.seq_len set the training-step timing;\n"
      "  under launch/local.sh, torchrun or srun it times the data-parallel step (rank 0 prints);\n"
      "  --decode times KV-cache generation instead (generation.max_new_tokens new tokens, greedy)\n"
      "  random weights either way";
  auto args = parse_args(argv, ArgSpec{{"--batch-sizes"}, {"--set"}, {"--decode"}}, usage);
  if (args.positionals.size() != 1) throw UsageError("expected exactly one config file", usage);
  std::vector<int64_t> sizes{0};
  if (auto v = args.value("--batch-sizes")) {
    sizes.clear();
    for (const auto& s : core::split(*v, ',')) sizes.push_back(parse_int("--batch-sizes", s, 1, usage));
  }
  const bool decode = args.has("--decode");
  const train::RunTarget target{args.positionals[0], "", args.all("--set"), train::Checks::kSyntax};
  train::SetupOptions so;
  so.bench = true;
  so.communicator = !decode;
  auto run = train::setup_run(target, so);
  for (int64_t b : sizes) {
    if (decode)
      out << train::bench_decode(run, b > 0 ? b : run.config.data.batch_size).dump() << std::endl;
    else if (auto j = train::bench_train_step(run, b); j.value("rank", 0) == 0)
      out << j.dump() << std::endl;  // under a launcher, rank 0 speaks for all
  }
  return 0;
}

}  // namespace ibllm::cli
