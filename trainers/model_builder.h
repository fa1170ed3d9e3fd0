// From a RunConfig to a ready ImageBind-LLM: device and precision, allocation, weight assembly
// (model.init), the trainable set (model.trainable), and the model signature that checkpoints
// record so a resume on a different model fails loudly.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/imagebind_llm.h"
#include "models/trainable.h"
#include "trainers/adamw.h"
#include "trainers/run_config.h"

namespace ibllm::train {

struct BuiltModel {
  models::ImageBindLlm model{nullptr};
  models::TrainableReport trainable;
  std::string init_summary;
  at::Device device = at::kCPU;
  at::ScalarType frozen_dtype = at::kFloat;

  // The trainable parameters by name, registration order (what the optimizer and sync see).
  std::vector<NamedParameter> trainable_parameters() const;
};

// Builds on `device` and initialises (seeded by run.seed); the frozen dtype follows
// trainer.precision. `force_random_base` lets `bench` run without weight files. Commands get their
// model through setup_run (trainers/run_setup.h), which picks the device.
BuiltModel build_model(const RunConfig& c, at::Device device, bool force_random_base = false);

// Loads exactly the trainable tensors (a training checkpoint's model.safetensors): every trainable
// parameter must be present with its shape, nothing else may be; the full report otherwise.
void load_trainable_tensors(BuiltModel& m, const std::map<std::string, at::Tensor>& tensors,
                            const std::string& what);
// Loads trained weights onto a built model: an ibllm checkpoint directory (its trainable tensors;
// every one must exist in the model with its shape, and every trainable parameter must be there)
// or an ImageBind-LLM weights file (7B.pth, an export: delta keys, strict, model.init.allow_missing
// applies). Returns a one-line description.
std::string load_trained_weights(BuiltModel& m, const std::string& path,
                                 const std::vector<std::string>& allow_missing = {});

// Model FLOPs per processed LLM token of one training step (frozen LLaMA forward + backward to
// activations, trainable LoRA, attention, adapter injection and bind network amortised over the
// sequence) for MFU; see trainers/flops.h for the terms.
double model_flops_per_token(const RunConfig& c, const BuiltModel& m, int64_t seq_len);
// Dense peak FLOP/s of the device for the frozen dtype (0: unknown, e.g. CPU).
double peak_flops_for(const std::string& device_name, at::ScalarType frozen_dtype);

// Names, shapes and dtypes of the trainable tensors plus the architecture fields that must not
// change across a resume.
nlohmann::json model_signature(const RunConfig& c, const BuiltModel& m);

}  // namespace ibllm::train
