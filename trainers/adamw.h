// AdamW over the trainable fp32 master weights, with the reference parameter groups (no weight
// decay for 1-D tensors and names ending in ".bias") and torch.optim.AdamW (1.13) update math.
// State is created eagerly (zeros, step 0), which is numerically the same as torch's lazy init and
// makes the checkpoint key set fixed. Each parameter keeps its own step counter, advanced only when
// it has a gradient, because the bias correction depends on it (torch does the same).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "trainers/optim_config.h"

namespace ibllm::train {

struct NamedParameter {
  std::string name;
  at::Tensor param;
};

// Reference param groups (spec §3.6, misc.add_weight_decay): no decay for 1-D tensors and names
// ending in ".bias"; decay for the rest (0-D and >= 2-D tensors, e.g. gates (1,H,1,1)).
bool uses_weight_decay(const std::string& name, const at::Tensor& p);

class AdamW {
 public:
  // params: fp32, defined, on one device, unique non-empty names. Uses cfg.weight_decay, beta1,
  // beta2, eps and foreach (cfg.lr/blr are the trainer's business: step() takes the LR).
  // `owned` (ZeRO-1; empty = all): per parameter, whether this instance keeps its state and
  // updates it; the others get no state and are left to their owners (see zero_optimizer.h).
  AdamW(std::vector<NamedParameter> params, const OptimConfig& cfg, std::vector<bool> owned = {});

  // One update with learning rate `lr`. Parameters whose grad is undefined are skipped entirely
  // (no decay, no moment update, their step counter does not advance). No host sync.
  void step(double lr);
  // Sets every grad to undefined (torch's set_to_none=True): the next backward writes fresh grads
  // and micro-batches accumulate into them; a parameter untouched by backward keeps no grad and is
  // then skipped by step(). (A DDP layer that needs identical tensor lists fills zeros itself.)
  void zero_grad();
  int64_t steps_taken() const { return steps_taken_; }

  // Keys "<param>.exp_avg", "<param>.exp_avg_sq" (fp32, parameter shape), "<param>.step" (0-d
  // int64) for every owned parameter, plus "steps_taken" (0-d int64). The moment tensors alias
  // the live state (no copy): write them out before the next step().
  std::map<std::string, at::Tensor> state_dict() const;
  // Strict: every missing key, unexpected key, shape or dtype mismatch and invalid step is listed
  // in one CheckpointError, and nothing is modified unless the whole dict is valid. Values are
  // copied into the existing state (any source device); steps may be integer or integral floats.
  // The keys of owned parameters are required; those of other parameters of this optimizer are
  // accepted and ignored (a full dict loads into any shard).
  void load_state_dict(const std::map<std::string, at::Tensor>& state);

  bool owns(size_t i) const { return slots_.at(i).owned; }
  // Bytes of Adam moments held here / for all parameters (what ZeRO-1 divides).
  int64_t state_bytes() const;
  int64_t full_state_bytes() const;

  // "decay: 12 tensors / 1.2M params, no_decay: 5 tensors / 3k params"
  std::string summary() const;
  // The parameters in construction order (for grad_norm.h and DDP).
  std::vector<at::Tensor> params() const;
  const std::vector<std::string>& names() const { return names_; }
  // The foreach path updates parameters in chunks of about this many elements (default 2^26:
  // a 256 MB fp32 temporary for sqrt(v)). Results do not depend on it; tests shrink it.
  void set_foreach_chunk_elements(int64_t n) { foreach_chunk_elements_ = n > 0 ? n : 1; }

 private:
  struct Slot {
    at::Tensor param;
    at::Tensor exp_avg;
    at::Tensor exp_avg_sq;
    int64_t step = 0;  // host copy: bias corrections need no device read
    bool decay = true;
    bool owned = true;  // false: no state here; another rank updates it (ZeRO-1)
  };
  void step_foreach(double lr, bool decay_group);
  void foreach_update(const std::vector<Slot*>& slots, double lr, double wd);
  void step_loop(double lr, bool decay_group);

  OptimConfig cfg_;
  std::vector<std::string> names_;
  std::vector<Slot> slots_;
  int64_t steps_taken_ = 0;
  int64_t foreach_chunk_elements_ = int64_t{1} << 26;
};

}  // namespace ibllm::train
