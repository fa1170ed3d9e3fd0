// `ibllm export <config.yaml | checkpoint dir> --out <dir> [--checkpoint p] [--dtype fp32|fp16|bf16]
// [--merged] [--no-delta] [--with-imagebind] [--set ...]`: writes delta.safetensors + delta.pth
// (official key names, loadable by the Python demo) and/or merged.safetensors + manifest.
#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "src/core/error.h"
#include "trainers/export.h"
#include "trainers/run_setup.h"

namespace ibllm::cli {

int cmd_export(const std::vector<std::string>& argv, std::ostream& out) {
  const std::string usage =
      "ibllm export <config.yaml | checkpoint dir> --out <dir> [--checkpoint <dir|file>] "
      "[--dtype fp32|fp16|bf16] [--merged] [--no-delta] [--with-imagebind] [--set k=v ...]";
  auto args = parse_args(argv,
                         ArgSpec{{"--out", "--checkpoint", "--dtype"}, {"--set"},
                                 {"--merged", "--no-delta", "--with-imagebind"}},
                         usage);
  if (args.positionals.size() != 1) throw UsageError("expected one config or checkpoint", usage);
  if (!args.value("--out")) throw UsageError("--out <dir> is required", usage);
  train::ExportOptions o;
  o.out_dir = *args.value("--out");
  o.dtype = args.value("--dtype").value_or("fp32");
  o.delta = !args.has("--no-delta");
  o.merged = args.has("--merged");
  o.with_imagebind = args.has("--with-imagebind");
  train::check_export_options(o);
  train::SetupOptions so;
  so.device = train::RunDevice::kCpu;  // export is I/O bound; the frozen base stays in its file dtype
  so.tokenizer = false;
  auto run = train::setup_run({args.positionals[0], args.value("--checkpoint").value_or(""),
                               args.all("--set"), train::Checks::kSyntax}, so);
  auto r = train::export_weights(run, o);
  out << nlohmann::json{{"files", r.files}, {"delta_tensors", r.delta_tensors},
                        {"merged_tensors", r.merged_tensors}}
             .dump()
      << "\n";
  return 0;
}

}  // namespace ibllm::cli
