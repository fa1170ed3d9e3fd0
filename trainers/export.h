// `ibllm export`: (a) the ImageBind-LLM delta in official key names — bind network, prefix_query,
// gates, LLaMA biases/LoRA/norms, exactly the key set of the official 7B.pth (convert_ckpt rule) —
// as delta.safetensors and as a torch.load-able delta.pth ({"model": {...}}) for the Python demo;
// (b) with --merged, deployment weights: LoRA folded into wq wk wo w1 w2 w3 (their B then zero;
// never wv, spec §3.4),
// the LLaMA base, bind network and prefix (plus the towers with --with-imagebind) in one
// safetensors file with a JSON manifest. A dtype option casts floating tensors.
#pragma once

#include <c10/core/ScalarType.h>

#include <string>
#include <vector>

#include "trainers/run_setup.h"

namespace ibllm::train {

struct ExportOptions {
  std::string out_dir;
  std::string dtype = "fp32";    // fp32 | fp16 | bf16 (gates stay as they are cast: see docs)
  bool delta = true;
  bool merged = false;
  bool with_imagebind = false;   // merged only
};

struct ExportResult {
  std::vector<std::string> files;
  int64_t delta_tensors = 0;
  int64_t merged_tensors = 0;
};

// The scalar type of an export --dtype: io::parse_dtype_name's names for fp32, fp16 and bf16
// ("fp32", "float32", "bf16", ...). Anything else (fp64 included) is a UsageError (exit code 2)
// "unknown --dtype '<name>' (use fp32, fp16 or bf16)".
at::ScalarType export_dtype(const std::string& name);

// Usage errors (no --out, a bad --dtype, nothing to export) before anything is built.
void check_export_options(const ExportOptions& o);
// `run` comes from setup_run on the CPU (SetupOptions::device) with the trained weights loaded;
// run.checkpoint names them ("" = the model as model.init built it).
ExportResult export_weights(RunSetup& run, const ExportOptions& o);

}  // namespace ibllm::train
