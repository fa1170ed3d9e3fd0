// `ibllm convert <in> <out.safetensors>`: streams tensor by tensor (memory stays near the largest
// tensor), with optional dtype cast, Meta <-> HF LLaMA key map and glob selection; a progress bar
// on a terminal, a one-line summary always.
#include <fmt/format.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "src/core/error.h"
#include "src/core/progress_bar.h"
#include "src/io/convert.h"
#include "src/io/inspect.h"

namespace ibllm::cli {

int cmd_convert(const std::vector<std::string>& argv, std::ostream& out) {
  const std::string usage =
      "ibllm convert <in> <out.safetensors> [--dtype bf16|fp16|fp32] [--map meta-to-hf|hf-to-meta]\n"
      "              [--select <glob>]... [--under <key>] [--heads N] [--kv-heads N]\n"
      "              [--meta-prefix llama.] [--rename-llma]";
  auto args = parse_args(
      argv,
      ArgSpec{{"--dtype", "--map", "--under", "--heads", "--kv-heads", "--meta-prefix"},
              {"--select"},
              {"--rename-llma"}},
      usage);
  if (args.positionals.size() != 2) throw UsageError("expected <in> and <out.safetensors>", usage);
  io::ConvertOptions opt;
  if (auto d = args.value("--dtype")) opt.dtype = io::parse_dtype_name(*d);
  if (auto m = args.value("--map")) opt.map = io::parse_key_map(*m);
  opt.select = args.all("--select");
  opt.under = args.value("--under").value_or("");
  opt.llama.n_heads = int_flag(args, "--heads", 0, 1, usage);
  opt.llama.n_kv_heads = int_flag(args, "--kv-heads", 0, 1, usage);
  opt.llama.meta_prefix = args.value("--meta-prefix").value_or("");
  opt.rename_llma = args.has("--rename-llma");
  core::ProgressBar bar(1000);  // permille of tensors done
  opt.progress = [&bar](size_t done, size_t total, uint64_t written, uint64_t) {
    bar.update(static_cast<int64_t>(done * 1000 / std::max<size_t>(total, 1)),
               fmt::format("{}/{} tensors, {}", done, total, io::human_bytes(written)));
  };
  auto stats = io::convert_weights(args.positionals[0], args.positionals[1], opt);
  bar.finish();
  out << fmt::format("converted {} tensors ({} dropped) from {} to {}: {} read, {} written in {:.2f} s\n",
                     stats.tensors, stats.dropped, args.positionals[0], args.positionals[1],
                     io::human_bytes(stats.bytes_read), io::human_bytes(stats.bytes_written),
                     stats.seconds);
  return 0;
}

}  // namespace ibllm::cli
