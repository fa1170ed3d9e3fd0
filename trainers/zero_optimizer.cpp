// ZeRO-1 helpers; see zero_optimizer.h. The step counters are host integers: they travel in one
// small sum (each parameter's counter is non-zero on its owner only).
#include "trainers/zero_optimizer.h"

#include <ATen/ATen.h>

#include "src/core/error.h"

namespace ibllm::train {

std::vector<bool> owned_mask(const std::vector<int64_t>& owner, int64_t rank) {
  std::vector<bool> mask;
  for (int64_t o : owner) mask.push_back(o == rank);
  return mask;
}

std::map<std::string, at::Tensor> gather_optimizer_state(dist::Communicator& comm,
                                                         const AdamW& optimizer,
                                                         const std::vector<int64_t>& owner) {
  const auto& names = optimizer.names();
  if (owner.size() != names.size())
    throw Error("optim", "ZeRO-1 owner list has " + std::to_string(owner.size()) +
                             " entries for " + std::to_string(names.size()) + " parameters");
  const auto local = optimizer.state_dict();  // this rank's shard (aliases the live state)
  const auto params = optimizer.params();
  std::vector<double> steps(names.size(), 0.0);
  for (size_t i = 0; i < names.size(); ++i)
    if (owner[i] == comm.rank()) steps[i] = local.at(names[i] + ".step").item<double>();
  steps = comm.sum(std::move(steps));

  const bool writer = comm.rank() == 0;
  std::map<std::string, at::Tensor> full;
  for (size_t i = 0; i < names.size(); ++i) {
    const bool mine = owner[i] == comm.rank();
    std::vector<at::Tensor> moments;
    for (const char* k : {".exp_avg", ".exp_avg_sq"}) {
      moments.push_back(mine ? local.at(names[i] + k)
                             : at::empty(params[i].sizes(),
                                         at::TensorOptions(at::kFloat).device(comm.device())));
    }
    comm.broadcast(moments, owner[i]);
    if (!writer) continue;
    full[names[i] + ".exp_avg"] = moments[0].to(at::kCPU);
    full[names[i] + ".exp_avg_sq"] = moments[1].to(at::kCPU);
    full[names[i] + ".step"] = at::scalar_tensor(static_cast<int64_t>(steps[i]), at::kLong);
  }
  if (writer) full["steps_taken"] = local.at("steps_taken");
  return full;
}

}  // namespace ibllm::train
