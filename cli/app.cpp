// Command table: every command the framework plans is listed, so `--help` shows the whole surface;
// commands whose issue has not landed say which area delivers them and exit 2 (no pretend output).
#include "cli/app.h"

#include <fmt/format.h>

#include <functional>

#include "cli/args.h"
#include "cli/commands.h"
#include "src/core/error.h"
#include "src/core/strings.h"

namespace ibllm::cli {

namespace {

struct Command {
  std::string name;
  std::string summary;
  std::string usage;
  std::function<int(const std::vector<std::string>&, std::ostream&)> run;  // empty: not yet built
  std::string delivered_by;  // which area/issue delivers an unimplemented command
};

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"train", "train or fine-tune from a YAML config (resumes automatically)",
       "ibllm train <config.yaml> [--set key.path=value ...]", cmd_train, ""},
      {"eval", "evaluate a checkpoint (loss, perplexity)",
       "ibllm eval <config.yaml | checkpoint dir> [--checkpoint <dir|file>] [--split val|train] "
       "[--max-batches N] [--set ...]",
       cmd_eval, ""},
      {"generate", "answer a prompt about image/audio/video/3D/... inputs (or a file of requests)",
       "ibllm generate <config.yaml | checkpoint dir> --prompt \"...\" [--image p] [--audio p] "
       "[--video p] [--point p] [--depth p] [--thermal p] [--imu p] [--text \"...\"] "
       "[--weight m=w] [--temperature t] [--top-p p] [--max-new-tokens n] [--seed s] [--raw] | "
       "--requests in.jsonl --out out.jsonl [--batch N]",
       cmd_generate, ""},
      {"export", "export weights in official key names (.safetensors + .pth) / merged weights",
       "ibllm export <config.yaml | checkpoint dir> --out <dir> [--checkpoint <dir|file>] "
       "[--dtype fp32|fp16|bf16] [--merged] [--no-delta] [--with-imagebind] [--set ...]",
       cmd_export, ""},
      {"convert", "convert a weights file to safetensors (dtype cast, Meta<->HF LLaMA key map, select)",
       "ibllm convert <in> <out.safetensors> [--dtype bf16] [--map meta-to-hf|hf-to-meta] "
       "[--select <glob>]... [--under <key>] [--heads N] [--kv-heads N] [--meta-prefix p] [--rename-llma]",
       cmd_convert, ""},
      {"inspect", "list the tensors of a weights file (names, dtypes, shapes, bytes, metadata)",
       "ibllm inspect <file.pth|file.safetensors|index.json|dir> [--max N]", cmd_inspect, ""},
      {"embed", "compute L2-normalised ImageBind embeddings for files (a feature cache)",
       "ibllm embed <config.yaml> --modality <vision|video|text|audio|depth|thermal|imu|point> "
       "--input <list.txt|dir> --out feats.safetensors [--weights imagebind.pth] [--batch N] "
       "[--workers N] [--root DIR] [--bpe vocab.txt.gz] [--reference-truncation] [--zero-image] "
       "[--set key.path=value ...]",
       cmd_embed, ""},
      {"build-cache", "build the visual cache index (spec section 4) from `ibllm embed` outputs",
       "ibllm build-cache --embeddings feats.safetensors [more.safetensors ...] --out cache/",
       cmd_build_cache, ""},
      {"check-config", "validate a config and print the resolved YAML",
       "ibllm check-config <config.yaml> [--set key.path=value ...] [--quiet] [--no-files]",
       cmd_check_config, ""},
      {"info", "print build and runtime facts (LibTorch, CUDA, cuDNN, NCCL, OpenCV, threads)",
       "ibllm info", cmd_info, ""},
      {"bench", "benchmark the training step (random weights, configured shapes)",
       "ibllm bench <config.yaml> [--batch-sizes B1,B2] [--set ...]", cmd_bench, ""},
  };
  return table;
}

std::vector<std::string> command_names() {
  std::vector<std::string> names;
  for (const auto& c : commands()) names.push_back(c.name);
  return names;
}

const Command* find_command(const std::string& name) {
  for (const auto& c : commands())
    if (c.name == name) return &c;
  return nullptr;
}

std::string command_help(const Command& c) {
  std::string s = fmt::format("usage: {}\n\n{}\n", c.usage, c.summary);
  if (!c.run) s += "\nnot implemented yet: delivered by " + c.delivered_by + "\n";
  s += "\nexit codes: 0 ok, 1 runtime error, 2 usage or config error\n";
  return s;
}

}  // namespace

std::string top_level_usage() {
  std::string s =
      "usage: ibllm <command> [args]   (ibllm <command> --help for details)\n\ncommands:\n";
  for (const auto& c : commands())
    s += fmt::format("  {:<13} {}{}\n", c.name, c.summary, c.run ? "" : "  [not yet implemented]");
  s += "\nconfigs: YAML presets in configs/; override any key with --set a.b.c=value\n";
  return s;
}

int run_app(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty()) throw UsageError("no command given", top_level_usage());
  const std::string& name = args[0];
  if (name == "--help" || name == "-h" || name == "help") {
    if (name == "help" && args.size() > 1) {
      const Command* c = find_command(args[1]);
      if (!c) throw UsageError("unknown command '" + args[1] + "'", top_level_usage());
      out << command_help(*c);
      return 0;
    }
    out << top_level_usage();
    return 0;
  }
  if (name == "--version") {
    return cmd_info({"--version"}, out);
  }
  const Command* c = find_command(name);
  if (!c) {
    std::string msg = "unknown command '" + name + "'";
    std::string near = core::closest_match(name, command_names());
    if (!near.empty()) msg += " (did you mean '" + near + "'?)";
    throw UsageError(msg, top_level_usage());
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  for (const auto& a : rest) {
    if (a == "--help" || a == "-h") {
      out << command_help(*c);
      return 0;
    }
  }
  if (!c->run) {
    err << "ibllm " << c->name << ": not implemented yet; delivered by " << c->delivered_by
        << ". Nothing was run.\n";
    return 2;
  }
  return c->run(rest, out);
}

}  // namespace ibllm::cli
